"""``nnbook verify``'s engine: the checks (symbolic, loop oracle, TensorFlow,
finite differences, Keras trajectories), the cases they run on, the proofs'
exact zero test, time limits, and the reports.

TensorFlow is imported only by :mod:`nnmath.checker.oracle`.
"""
