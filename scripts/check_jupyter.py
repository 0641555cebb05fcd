"""Drives the llx Jupyter kernel and checks notebooks with Jupyter's own libraries, for
Tests/REPLTests/JupyterTests.swift (which makes the inputs and checks what this prints):

  python scripts/check_jupyter.py imports
      exits 3 naming what is missing when nbformat, nbclient, ipykernel or jupyter_client are
      not installed (the test then skips, saying so)
  python scripts/check_jupyter.py execute KERNEL IN.ipynb OUT.ipynb
      runs IN with nbclient on the kernelspec KERNEL (errors allowed; a cell whose metadata has
      "llx_timeout": s is interrupted after s seconds), validates the result with nbformat and
      writes it to OUT
  python scripts/check_jupyter.py session KERNEL
      one kernel session through jupyter_client: executes, completes and inspects, printing a
      JSON object of the replies
  python scripts/check_jupyter.py validate FILE.ipynb ...
      nbformat.validate on each file (as_version 4); prints "valid N"
"""

import json
import sys


def imports():
    missing = []
    for name in ("nbformat", "nbclient", "ipykernel", "jupyter_client"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        print("missing Python packages: " + ", ".join(missing))
        sys.exit(3)
    print("ok")


def execute(kernel, src, dst):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(src, as_version=4)
    nbformat.validate(nb)

    def timeout(cell):
        return cell.get("metadata", {}).get("llx_timeout", 120)

    client = NotebookClient(nb, kernel_name=kernel, allow_errors=True, interrupt_on_timeout=True,
                            timeout_func=timeout, startup_timeout=60)
    client.execute()
    nbformat.validate(nb)
    nbformat.write(nb, dst)
    print("executed", len(nb.cells))


def session(kernel):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=kernel, startup_timeout=60)
    out = {}
    try:
        kc.execute_interactive("let zebra_count = 17\nlet cfg = {rope_theta: 5, other: 1}\n"
                               "fn g(a, alpha_value: 1) { return a + alpha_value }", timeout=60)
        def complete(code, cursor=None):
            reply = kc.complete(code, len(code) if cursor is None else cursor, reply=True, timeout=30)["content"]
            return {"matches": reply["matches"], "cursor_start": reply["cursor_start"], "cursor_end": reply["cursor_end"]}
        out["complete_name"] = complete("print(zebra_c")
        out["complete_field"] = complete("cfg.rope_t")
        out["complete_namespace"] = complete("llama.ini")
        out["complete_argument"] = complete("let q = 1\ng(1, alpha_v")
        def inspect(code, cursor=None):
            reply = kc.inspect(code, len(code) if cursor is None else cursor, reply=True, timeout=30)["content"]
            return {"found": reply["found"], "text": reply["data"].get("text/plain", "")}
        out["inspect_command"] = inspect("train")
        out["inspect_in_call"] = inspect("eval.niah(m, tok, leng")
        out["inspect_variable"] = inspect("zebra_count + 1", 3)
        out["inspect_unknown"] = inspect("no_such_thing_here")
        def is_complete(code):
            msg_id = kc.is_complete(code)
            while True:
                reply = kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply["content"]["status"]
        out["is_complete_open"] = is_complete("fn f(x) {")
        out["is_complete_done"] = is_complete("1 + 1")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    print(json.dumps(out))


def validate(paths):
    import nbformat

    for p in paths:
        nbformat.validate(nbformat.read(p, as_version=4))
    print("valid", len(paths))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "imports":
        imports()
    elif cmd == "execute" and len(sys.argv) == 5:
        execute(*sys.argv[2:])
    elif cmd == "session" and len(sys.argv) == 3:
        session(sys.argv[2])
    elif cmd == "validate" and len(sys.argv) > 2:
        validate(sys.argv[2:])
    else:
        print(__doc__)
        sys.exit(2)
