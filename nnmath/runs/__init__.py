"""The book's example and training runs, computed from the registered formulas
and claims: datasets, worked examples, training, descent trajectories, the
tutorials' bugs.  Nothing here is checked by ``nnbook verify``; everything here
uses what it checks.
"""
