"""Publishing the book: render jobs and their processes, the caches, the
verification gate, embed bundles, the static site and its typesetting, doctor.

Imports run one way: ``cli`` → ``publishing`` → ``chapters`` → ``nnmath``.
"""
