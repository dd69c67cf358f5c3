"""The ``symgrad`` command: derivatives at a terminal.

Examples::

    symgrad grad "x**2*sin(y)"                  # each partial, pretty-printed
    symgrad hessian "x**2*sin(y)" --format latex
    symgrad jacobian "x*y" "sin(x)+y" --vars x,y
    symgrad laplacian "exp(-(x**2+y**2))"
    symgrad divergence "x*y" "y**2" --vars x,y
    symgrad curl "y*z" "x*z" "x*y" --vars x,y,z
    symgrad grad "a*x**2" --vars x --params a --format python
    symgrad grad "x**2*sin(y)" --at x=1,y=2     # evaluate (compiled) and print numbers
    symgrad grad "x**2*sin(y)" --cse            # shared subexpressions
    symgrad check "sin(x)*cos(y)" --domain x=-3:3,y=-3:3
    symgrad source "sin(x)*cos(y)" --hessian    # the generated kernel source

Layout: ``commands`` (argparse, options, the commands and ``main``), ``render``
(symbolic output in each format). The printing commands read the output-kind registry
(``symgrad.outputs``) and the kernels' program builder and printer, so they show what
the kernels compute.

Exit status: 0 success; 1 a ``check`` failed; 2 an error (bad formula, bad options,
output that cannot be written), one line starting ``symgrad: error:``, no traceback;
3 an internal error (a bug: ``symgrad: internal error: ...``; the traceback only with
``SYMGRAD_DEBUG=1``); 130 interrupted; 141 the output pipe was closed by its reader
(``symgrad ... | head``; no message, as for other Unix tools).

Only evaluation (``--at``, ``check``) compiles kernels and imports numba; printing
derivatives and ``source`` need SymPy only.
"""

from .commands import build_parser, main

__all__ = ["main", "build_parser"]
