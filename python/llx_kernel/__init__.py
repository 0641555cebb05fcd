"""The llx Jupyter kernel: a thin ipykernel wrapper around `llx serve --jsonl`.

The llx binary runs the session (the REPL's semantics: variables kept, values shown, print
streamed, figures as SVG, errors with their location); this package only speaks Jupyter's
wire protocol through ipykernel and translates messages to and from the JSON lines of
`llx serve`. Install the kernelspec with `llx kernel install [--user]`.
"""

__version__ = "0.1.0"
