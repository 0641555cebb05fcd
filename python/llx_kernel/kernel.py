"""LLXKernel: Jupyter requests in, `llx serve --jsonl` requests out.

One `llx serve --jsonl` child process holds the session. Two reader threads put what it
writes into one queue: its JSON lines from stdout, and its stderr (progress lines, warnings)
as text. `do_execute` sends the code and forwards each event as it arrives (stream,
display_data, execute_result, error) until the child's `done`. An interrupt (SIGINT from
Jupyter) is passed on to the child, which stops the running cell and keeps the session. If
the child dies, the cell fails with a message saying so and a fresh session starts.
"""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from ipykernel.kernelbase import Kernel

from . import __version__

# the terminal's "erase line" code that progress lines carry; Jupyter handles the "\r" itself
_ERASE = re.compile(r"\x1b\[K")


def llx_binary():
    """The llx binary: $LLX_BINARY (the kernelspec sets it), else `llx` on the PATH."""
    path = os.environ.get("LLX_BINARY") or shutil.which("llx")
    if not path:
        raise RuntimeError("no llx binary: set LLX_BINARY or put llx on the PATH "
                           "(`llx kernel install` writes it into the kernelspec)")
    return path


class LLXKernel(Kernel):
    implementation = "llx_kernel"
    implementation_version = __version__
    language = "llx"
    language_version = "0.1"
    language_info = {
        "name": "llx",
        "mimetype": "text/x-llx",
        "file_extension": ".llx",
        "codemirror_mode": "swift",
        "pygments_lexer": "text",
    }
    banner = "llx: long-context experiments on Llama-3 (help() lists the commands)"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._events = queue.Queue()
        self._child = None
        self._executing = False
        self._start_child()

    # -- the child process -------------------------------------------------------------

    def _start_child(self):
        self._events = queue.Queue()
        child = subprocess.Popen(
            [llx_binary(), "serve", "--jsonl"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._child = child
        events = self._events

        def read_stdout():
            for raw in child.stdout:
                try:
                    events.put(("event", json.loads(raw.decode("utf-8", "replace"))))
                except ValueError:
                    events.put(("stderr", raw.decode("utf-8", "replace")))
            events.put(("eof", None))

        def read_stderr():
            while True:
                chunk = os.read(child.stderr.fileno(), 65536)   # what is there, not a whole line
                if not chunk:
                    break
                events.put(("stderr", chunk.decode("utf-8", "replace")))

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()

    def _request(self, req):
        self._child.stdin.write((json.dumps(req) + "\n").encode("utf-8"))
        self._child.stdin.flush()

    def _next(self):
        """The next item from the child, waiting in short steps so that signals get handled."""
        while True:
            try:
                return self._events.get(timeout=0.1)
            except queue.Empty:
                continue

    def _drain_stale(self):
        """stderr the child wrote while no cell ran goes to the kernel's own log."""
        while True:
            try:
                kind, item = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "stderr":
                sys.__stderr__.write(item)
            elif kind == "eof":
                self._events.put((kind, item))
                return

    def _call(self, req, answer_type):
        """A request that has one answer (complete, inspect, is_complete); None if the child is gone."""
        if self._child is None or self._child.poll() is not None:
            return None
        self._drain_stale()
        try:
            self._request(req)
        except OSError:
            return None
        while True:
            kind, item = self._next()
            if kind == "eof":
                self._events.put((kind, item))
                return None
            if kind == "event" and item.get("type") == answer_type:
                return item
            if kind == "stderr":
                sys.__stderr__.write(item)

    # -- interrupts --------------------------------------------------------------------

    def _on_sigint(self, signum, frame):
        child = self._child
        if child is not None and child.poll() is None:
            try:
                os.kill(child.pid, signal.SIGINT)
            except OSError:
                pass

    def pre_handler_hook(self):
        # Jupyter interrupts by SIGINT to the kernel's process group: pass it on to llx
        # instead of raising KeyboardInterrupt in the middle of a request
        self.saved_sigint_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def post_handler_hook(self):
        signal.signal(signal.SIGINT, self.saved_sigint_handler)

    # -- Jupyter requests --------------------------------------------------------------

    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, *, cell_meta=None, cell_id=None):
        if self._child is None or self._child.poll() is not None:
            self._start_child()
        self._drain_stale()
        count = self.execution_count
        reply = {"status": "ok", "execution_count": count, "payload": [], "user_expressions": {}}

        def send(msg_type, content):
            if not silent:
                self.send_response(self.iopub_socket, msg_type, content)

        try:
            self._request({"type": "execute", "code": code, "count": count})
        except OSError:
            pass   # the child is gone; its eof comes next
        while True:
            kind, item = self._next()
            if kind == "stderr":
                text = _ERASE.sub("", item)
                if text:
                    send("stream", {"name": "stderr", "text": text})
                continue
            if kind == "eof":
                status = self._child.wait()
                self._child = None
                message = (f"the llx process ended (exit status {status}) while running this cell; "
                           "the next cell starts a new session (variables are lost)")
                err = {"ename": "KernelDied", "evalue": message, "traceback": [message]}
                send("error", err)
                reply.update(status="error", **err)
                return reply
            event = item
            t = event.get("type")
            if t == "stream":
                send("stream", {"name": event.get("name", "stdout"), "text": event["text"]})
            elif t == "display":
                send("display_data", {"data": event["data"], "metadata": {}})
            elif t == "result":
                send("execute_result", {"execution_count": count, "data": event["data"], "metadata": {}})
            elif t == "error":
                err = {"ename": event["ename"], "evalue": event["evalue"], "traceback": event["traceback"]}
                send("error", err)
                reply.update(status="error", **err)
            elif t == "done":
                # stderr comes through its own pipe and thread: take what llx wrote before it
                # finished (an evaluator's last progress line) into this cell, not the next
                time.sleep(0.02)
                while True:
                    try:
                        kind, item = self._events.get_nowait()
                    except queue.Empty:
                        break
                    if kind == "stderr":
                        text = _ERASE.sub("", item)
                        if text:
                            send("stream", {"name": "stderr", "text": text})
                    else:
                        self._events.put((kind, item))   # an eof: the next request sees it
                        break
                return reply
            elif t == "protocol_error":
                sys.__stderr__.write("llx serve: " + event.get("message", "") + "\n")

    async def do_complete(self, code, cursor_pos):
        answer = self._call({"type": "complete", "code": code, "cursor": cursor_pos}, "complete")
        if answer is None:
            return {"status": "ok", "matches": [], "cursor_start": cursor_pos, "cursor_end": cursor_pos, "metadata": {}}
        return {"status": "ok", "matches": answer["matches"], "cursor_start": answer["cursor_start"],
                "cursor_end": answer["cursor_end"], "metadata": {}}

    async def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        answer = self._call({"type": "inspect", "code": code, "cursor": cursor_pos}, "inspect")
        if not answer or not answer.get("found"):
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "data": {"text/plain": answer["text"]}, "metadata": {}}

    async def do_is_complete(self, code):
        answer = self._call({"type": "is_complete", "code": code}, "is_complete")
        status = answer["status"] if answer else "unknown"
        reply = {"status": status}
        if status == "incomplete":
            reply["indent"] = ""
        return reply

    async def do_shutdown(self, restart):
        child = self._child
        if child is not None and child.poll() is None:
            try:
                child.stdin.close()   # end of input ends `llx serve`
                child.wait(timeout=5)
            except Exception:
                child.kill()
        return {"status": "ok", "restart": restart}
