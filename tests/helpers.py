"""Builders for real test files of every supported format (written with the real libraries), and of GGUF
models and LoRA adapters (a tiny base with real GGUF headers, a random adapter over any base)."""

from __future__ import annotations

import io
from pathlib import Path

PACKAGED = "qwen2.5-coder-0.5b"  # the packaged model the real-model tests run (the test extra installs it)


def make_pdf(path: Path, pages: list[str]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        y = 800
        for line in text.split("\n"):
            c.drawString(50, y, line)
            y -= 16
        c.showPage()
    c.save()
    return path


def make_encrypted_pdf(path: Path, text: str) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_suffix(".plain.pdf"), [text])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    with path.open("wb") as f:
        writer.write(f)
    plain.unlink()
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("연차 규정", level=1)
    d.add_paragraph("직원은 입사 1년 후 15일의 연차를 받습니다.")
    d.add_heading("병가", level=2)
    d.add_paragraph("병가는 연 10일까지 유급입니다.")
    table = d.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "구분", "일수"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "경조휴가", "5일"
    d.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["sku", "name", "price_krw"])
    ws.append(["S-100", "오슬로 소파", 890000])
    ws.append(["S-200", "Bergen chair", 129000])
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())
    return path


def make_gguf_model(path: Path, arch: str = "qwen2", layers: int = 2, dim: int = 8, seed: int = 0) -> Path:
    """A tiny GGUF 'model': its architecture and, per layer, the q and v projections (dim × dim), enough for the
    registry and `write_adapter`; not loadable by llama.cpp."""
    import numpy as np
    from gguf import GGUFWriter

    rng = np.random.default_rng(seed)
    writer = GGUFWriter(str(path), arch)
    writer.add_type("model")
    for i in range(layers):
        for part in ("attn_q", "attn_v"):
            writer.add_tensor(f"blk.{i}.{part}.weight", rng.normal(size=(dim, dim)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def random_adapter(path: Path, base: Path, seed: int = 0, rank: int = 4, scale: float = 0.05,
                   alpha: float = 8.0) -> Path:
    """A LoRA adapter of random weights over every layer's q and v projections of `base` (a GGUF), written by
    the project's own writer: W' = W + alpha/rank · B·A, each factor N(0, scale²)."""
    import numpy as np

    from inhouse.tune.gguf_lora import base_info, write_adapter

    rng = np.random.default_rng(seed)
    shapes = base_info(base)["shapes"]
    layers = sorted({int(name.split(".")[1]) for name in shapes if name.startswith("blk.")})
    weights = {}
    for i in layers:
        for module, tensor in (("self_attn.q_proj", "attn_q"), ("self_attn.v_proj", "attn_v")):
            out_dim, in_dim = shapes[f"blk.{i}.{tensor}.weight"]
            weights[f"model.layers.{i}.{module}"] = (rng.normal(0, scale, (rank, in_dim)),
                                                     rng.normal(0, scale, (out_dim, rank)))
    write_adapter(path, base, weights, alpha)
    return path


# A llama.cpp server as a child process: the egress lock first (loopback only), then llama-cpp-python's own
# __main__ (`python -m llama_cpp.server`).
_SERVE = ("import runpy\nfrom inhouse.guard import egress\negress.install(allow=())\n"
          "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` serving `gguf` as `alias` on a loopback port; `start()` waits until it lists
    the model, `kill()` ends it at once (kill -9), `start()` again brings it back on the same port."""

    def __init__(self, gguf: Path, alias: str, log: Path, port: int | None = None, n_ctx: int = 1024,
                 threads: int = 1) -> None:
        self.gguf, self.alias, self.log, self.n_ctx, self.threads = gguf, alias, log, n_ctx, threads
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = None

    def start(self, timeout: float = 180) -> LlamaServer:
        import os
        import subprocess
        import sys
        import time
        import urllib.request

        root = Path(__file__).resolve().parents[1]
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SERVE, "--model", str(self.gguf), "--model_alias", self.alias, "--host",
                 "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads)],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if self.alias in r.read().decode():
                        return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("llama_cpp.server did not start:\n"
                                       + self.log.read_text("utf-8", "replace")[-3000:]) from None
                time.sleep(0.25)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
