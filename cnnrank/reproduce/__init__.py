"""One module per command-line job: each exposes ``DESCRIPTION``, ``add_arguments`` and ``run``.

See :mod:`cnnrank.cli` for the protocol. Library code stays in the other modules; these only parse
options, call the library, print a table and write files.
"""
