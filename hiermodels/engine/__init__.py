"""What samples: the gaussian engine (one numba program per machine), nutpie's internals fenced in one adapter, and the
cache of models compiled once per structure.
"""
