"""The simulator's Flatcar mirror: a signed release tree built once (`build`) and served inside
the rack (`serve`).
"""
