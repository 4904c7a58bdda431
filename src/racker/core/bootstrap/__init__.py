"""`racker bootstrap`'s inputs, pure: the options and their checks (`options`), the flags in Go
and GNU style (`flags`) and the wizard's question graph as data (`wizard`).
"""
