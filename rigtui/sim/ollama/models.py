"""What the simulated Ollama server knows: its model catalogue, its canned replies, its tokens.

Figures come from public sources, rounded where the source rounds:

* on-disk sizes (bytes of the manifest's layers), quantization and parameter sizes: the model
  pages of the Ollama library (``ollama.com/library/<model>/tags``) and ``ollama list``;
* architecture figures (``block_count``, ``embedding_length``, head counts, trained context,
  vocabulary, feed-forward length, RoPE base, ``general.parameter_count``): the GGUF metadata that
  ``ollama show --verbose`` prints for those models, which is what the upstream
  ``config.json`` files on Hugging Face say (Meta Llama 3.1 8B and 3.3 70B, Qwen2.5-Coder 32B,
  DeepSeek-R1-Distill-Qwen 14B, nomic-embed-text v1.5, Mistral 7B v0.3, Phi-4);
* ``general.file_type`` numbers: llama.cpp's ``enum llama_ftype`` (F16 = 1, Q8_0 = 7,
  Q4_K_M = 15).

Digests are not the registry's: they are deterministic SHA-256 strings derived from the name, so
the simulation never pretends to know a real blob. Templates, parameters and licences are
abbreviated versions of the real ones.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

FILE_TYPES = {"F16": 1, "Q8_0": 7, "Q4_K_M": 15}


@dataclass(frozen=True)
class ModelSpec:
    """One model as Ollama stores it: a GGUF file plus template, parameters and licence."""

    name: str
    """Display name, as ``/api/tags`` shows it (``llama3.1:8b``)."""
    architecture: str
    parameter_count: int
    parameter_size: str
    quantization: str
    size_bytes: int
    """On disk: the sum of the manifest's layers (what ``/api/tags`` reports)."""
    block_count: int
    embedding_length: int
    head_count: int
    head_count_kv: int
    context_length: int
    """The trained maximum (``<arch>.context_length``), not the runtime ``num_ctx``."""
    vocab_size: int
    feed_forward_length: int
    capabilities: tuple[str, ...]
    basename: str
    size_label: str
    rope_freq_base: int = 0
    norm_epsilon: float = 1e-05
    tokenizer_model: str = "gpt2"
    tokenizer_pre: str = "default"
    bos_token_id: int = 1
    eos_token_id: int = 2
    template: str = "{{ .Prompt }}"
    parameters: tuple[tuple[str, str | float | int], ...] = ()
    license: str = ""

    @property
    def family(self) -> str:
        return self.architecture

    @property
    def file_type(self) -> int:
        return FILE_TYPES[self.quantization]

    @property
    def head_dim(self) -> int:
        return self.embedding_length // self.head_count

    @property
    def digest(self) -> str:
        """The manifest digest: what ``/api/tags`` and ``/api/ps`` show (64 hex, no prefix)."""
        return _sha256(f"manifest/{self.name}")

    @property
    def blob_digest(self) -> str:
        """The GGUF layer's digest: its file name in ``blobs/`` and in the runner's command."""
        return _sha256(f"model/{self.name}")

    @property
    def parameters_text(self) -> str:
        """``/api/show``'s ``parameters``: Go's ``%-30s %#v`` per line."""
        lines = []
        for key, value in self.parameters:
            shown = _go_quote(value) if isinstance(value, str) else _go_number(value)
            lines.append(f"{key:<30} {shown}")
        return "\n".join(lines)

    def details(self) -> dict:
        """``ModelDetails`` as the v0.12 server writes it (no lengths; those came in v0.30)."""
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization,
        }

    def model_info(self) -> dict:
        """The flat GGUF key/value map of ``/api/show``, keys sorted, token arrays left out."""
        arch = self.architecture
        info: dict[str, object] = {
            "general.architecture": arch,
            "general.basename": self.basename,
            "general.file_type": self.file_type,
            "general.parameter_count": self.parameter_count,
            "general.size_label": self.size_label,
            "general.type": "model",
            f"{arch}.attention.head_count": self.head_count,
            f"{arch}.attention.head_count_kv": self.head_count_kv,
            f"{arch}.block_count": self.block_count,
            f"{arch}.context_length": self.context_length,
            f"{arch}.embedding_length": self.embedding_length,
            f"{arch}.feed_forward_length": self.feed_forward_length,
            "tokenizer.ggml.bos_token_id": self.bos_token_id,
            "tokenizer.ggml.eos_token_id": self.eos_token_id,
            "tokenizer.ggml.model": self.tokenizer_model,
            "tokenizer.ggml.pre": self.tokenizer_pre,
            "tokenizer.ggml.token_type": None,
            "tokenizer.ggml.tokens": None,
        }
        if self.quantization != "F16":
            info["general.quantization_version"] = 2
        if self.tokenizer_model == "bert":
            info[f"{arch}.attention.layer_norm_epsilon"] = self.norm_epsilon
        else:
            info[f"{arch}.attention.layer_norm_rms_epsilon"] = self.norm_epsilon
            info["tokenizer.ggml.merges"] = None
        if self.rope_freq_base:
            info[f"{arch}.rope.freq_base"] = self.rope_freq_base
        if arch == "llama":
            info[f"{arch}.rope.dimension_count"] = self.head_dim
            info[f"{arch}.vocab_size"] = self.vocab_size
        return dict(sorted(info.items()))

    def layers(self) -> tuple[tuple[str, str, int], ...]:
        """The manifest's layers for a pull: (media kind, 64-hex digest, bytes); sums to size."""
        small = [
            ("template", len(self.template.encode())),
            ("license", len(self.license.encode())),
            ("params", len(self.parameters_text.encode()) + 32),
            ("config", 487),
        ]
        small = [(kind, size) for kind, size in small if size]
        model = self.size_bytes - sum(size for _, size in small)
        rows = [("model", self.blob_digest, model)]
        rows += [(kind, _sha256(f"{kind}/{self.name}"), size) for kind, size in small]
        return tuple(rows)


def _sha256(text: str) -> str:
    return hashlib.sha256(f"rigtui.sim.ollama/{text}".encode()).hexdigest()


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _go_number(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


_LLAMA3_TEMPLATE = (
    "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>\n"
    "{{- end }}\n{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>\n{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)
_LLAMA3_PARAMETERS = (
    ("stop", "<|start_header_id|>"),
    ("stop", "<|end_header_id|>"),
    ("stop", "<|eot_id|>"),
)
_QWEN_TEMPLATE = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)
_DEEPSEEK_TEMPLATE = (
    "{{- if .System }}{{ .System }}{{ end }}{{- range .Messages }}"
    '{{- if eq .Role "user" }}<｜User｜>{{ .Content }}'
    "{{- else }}<｜Assistant｜>{{ .Content }}<｜end▁of▁sentence｜>{{ end }}"
    "{{- end }}<｜Assistant｜>"
)
_LLAMA31_LICENSE = (
    "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\n"
    "Llama 3.1 Version Release Date: July 23, 2024\n"
    "(abbreviated by the rigtui simulator)\n"
)
_LLAMA33_LICENSE = (
    "LLAMA 3.3 COMMUNITY LICENSE AGREEMENT\n"
    "Llama 3.3 Version Release Date: December 6, 2024\n"
    "(abbreviated by the rigtui simulator)\n"
)
_APACHE = "Apache License\nVersion 2.0, January 2004\n(abbreviated by the rigtui simulator)\n"
_MIT = "MIT License\n(abbreviated by the rigtui simulator)\n"


def _llama31(name: str, quantization: str, size_bytes: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        architecture="llama",
        parameter_count=8_030_261_312,
        parameter_size="8.0B",
        quantization=quantization,
        size_bytes=size_bytes,
        block_count=32,
        embedding_length=4096,
        head_count=32,
        head_count_kv=8,
        context_length=131_072,
        vocab_size=128_256,
        feed_forward_length=14_336,
        capabilities=("completion", "tools"),
        basename="Meta-Llama-3.1",
        size_label="8B",
        rope_freq_base=500_000,
        tokenizer_pre="llama-bpe",
        bos_token_id=128_000,
        eos_token_id=128_009,
        template=_LLAMA3_TEMPLATE,
        parameters=_LLAMA3_PARAMETERS,
        license=_LLAMA31_LICENSE,
    )


CATALOGUE: tuple[ModelSpec, ...] = (
    _llama31("llama3.1:8b", "Q4_K_M", 4_920_753_328),
    _llama31("llama3.1:8b-instruct-q8_0", "Q8_0", 8_540_775_840),
    ModelSpec(
        name="qwen2.5-coder:32b",
        architecture="qwen2",
        parameter_count=32_763_876_352,
        parameter_size="32.8B",
        quantization="Q4_K_M",
        size_bytes=19_851_336_256,
        block_count=64,
        embedding_length=5120,
        head_count=40,
        head_count_kv=8,
        context_length=32_768,
        vocab_size=152_064,
        feed_forward_length=27_648,
        capabilities=("completion", "tools", "insert"),
        basename="Qwen2.5-Coder",
        size_label="32B",
        rope_freq_base=1_000_000,
        norm_epsilon=1e-06,
        tokenizer_pre="qwen2",
        bos_token_id=151_643,
        eos_token_id=151_645,
        template=_QWEN_TEMPLATE,
        parameters=(("stop", "<|im_start|>"), ("stop", "<|im_end|>")),
        license=_APACHE,
    ),
    ModelSpec(
        name="llama3.3:70b",
        architecture="llama",
        parameter_count=70_553_706_496,
        parameter_size="70.6B",
        quantization="Q4_K_M",
        size_bytes=42_520_413_916,
        block_count=80,
        embedding_length=8192,
        head_count=64,
        head_count_kv=8,
        context_length=131_072,
        vocab_size=128_256,
        feed_forward_length=28_672,
        capabilities=("completion", "tools"),
        basename="Llama-3.3",
        size_label="70B",
        rope_freq_base=500_000,
        tokenizer_pre="llama-bpe",
        bos_token_id=128_000,
        eos_token_id=128_009,
        template=_LLAMA3_TEMPLATE,
        parameters=_LLAMA3_PARAMETERS,
        license=_LLAMA33_LICENSE,
    ),
    ModelSpec(
        name="deepseek-r1:14b",
        architecture="qwen2",
        parameter_count=14_770_033_664,
        parameter_size="14.8B",
        quantization="Q4_K_M",
        size_bytes=8_988_112_040,
        block_count=48,
        embedding_length=5120,
        head_count=40,
        head_count_kv=8,
        context_length=131_072,
        vocab_size=152_064,
        feed_forward_length=13_824,
        capabilities=("completion", "thinking"),
        basename="DeepSeek-R1-Distill-Qwen",
        size_label="14B",
        rope_freq_base=1_000_000,
        tokenizer_pre="deepseek-r1-qwen",
        bos_token_id=151_646,
        eos_token_id=151_643,
        template=_DEEPSEEK_TEMPLATE,
        parameters=(
            ("stop", "<｜begin▁of▁sentence｜>"),
            ("stop", "<｜end▁of▁sentence｜>"),
            ("stop", "<｜User｜>"),
            ("stop", "<｜Assistant｜>"),
            ("temperature", 0.6),
        ),
        license=_MIT,
    ),
    ModelSpec(
        name="nomic-embed-text:latest",
        architecture="nomic-bert",
        parameter_count=136_727_040,
        parameter_size="137M",
        quantization="F16",
        size_bytes=274_302_450,
        block_count=12,
        embedding_length=768,
        head_count=12,
        head_count_kv=12,
        context_length=2048,
        vocab_size=30_522,
        feed_forward_length=3072,
        capabilities=("embedding",),
        basename="nomic-embed-text",
        size_label="137M",
        rope_freq_base=1000,
        norm_epsilon=1e-12,
        tokenizer_model="bert",
        bos_token_id=101,
        eos_token_id=102,
        parameters=(("num_ctx", 8192),),
        license=_APACHE,
    ),
    ModelSpec(
        name="mistral:7b",
        architecture="llama",
        parameter_count=7_248_023_552,
        parameter_size="7.2B",
        quantization="Q4_K_M",
        size_bytes=4_372_824_384,
        block_count=32,
        embedding_length=4096,
        head_count=32,
        head_count_kv=8,
        context_length=32_768,
        vocab_size=32_768,
        feed_forward_length=14_336,
        capabilities=("completion", "tools"),
        basename="Mistral",
        size_label="7B",
        rope_freq_base=1_000_000,
        template="[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]",
        parameters=(("stop", "[INST]"), ("stop", "[/INST]")),
        license=_APACHE,
    ),
    ModelSpec(
        name="phi4:14b",
        architecture="phi3",
        parameter_count=14_659_507_200,
        parameter_size="14.7B",
        quantization="Q4_K_M",
        size_bytes=9_053_116_391,
        block_count=40,
        embedding_length=5120,
        head_count=40,
        head_count_kv=10,
        context_length=16_384,
        vocab_size=100_352,
        feed_forward_length=17_920,
        capabilities=("completion",),
        basename="Phi-4",
        size_label="14B",
        rope_freq_base=250_000,
        tokenizer_pre="dbrx",
        bos_token_id=100_257,
        eos_token_id=100_265,
        template=_QWEN_TEMPLATE,
        parameters=(
            ("stop", "<|im_start|>"),
            ("stop", "<|im_end|>"),
            ("stop", "<|im_sep|>"),
        ),
        license=_MIT,
    ),
)
"""Every model the simulated registry knows: the installed ones and those that can be pulled."""

DEFAULT_INSTALLED: tuple[str, ...] = (
    "llama3.1:8b",
    "llama3.1:8b-instruct-q8_0",
    "qwen2.5-coder:32b",
    "llama3.3:70b",
    "deepseek-r1:14b",
    "nomic-embed-text:latest",
)
"""Installed when the server starts; the rest of the catalogue is only pullable."""


def display_name(name: str) -> str:
    """Ollama's shortest display form, lower-cased: ``Llama3.1`` → ``llama3.1:latest``."""
    parts = name.strip().lower().split("/")
    model_tag = parts[-1]
    namespace = parts[-2] if len(parts) >= 2 else DEFAULT_NAMESPACE
    host = "/".join(parts[:-2]) if len(parts) >= 3 else DEFAULT_REGISTRY
    model, _, tag = model_tag.partition(":")
    model_tag = f"{model}:{tag or DEFAULT_TAG}"
    if host == DEFAULT_REGISTRY:
        return model_tag if namespace == DEFAULT_NAMESPACE else f"{namespace}/{model_tag}"
    return f"{host}/{namespace}/{model_tag}"


def full_name(name: str) -> str:
    """``registry.ollama.ai/library/llama3.1:8b``: how older servers named a model in errors."""
    shown = display_name(name)
    parts = shown.split("/")
    if len(parts) == 1:
        return f"{DEFAULT_REGISTRY}/{DEFAULT_NAMESPACE}/{shown}"
    if len(parts) == 2:
        return f"{DEFAULT_REGISTRY}/{shown}"
    return shown


# --- tokens ------------------------------------------------------------------------------------

_PIECE = re.compile(
    r" ?[A-Za-z]+| ?[0-9]{1,3}|\n+|[ \t]+(?=[ \t])| ?[^\sA-Za-z0-9]{1,3}|.",
    re.DOTALL,
)


def tokenize(text: str) -> list[str]:
    """Split text the way a BPE tokenizer roughly does: about four characters a token.

    Words keep their leading space; long words split into four-letter pieces; punctuation comes
    in runs of up to three; newlines group. ``"".join(tokenize(t)) == t`` always.
    """
    tokens: list[str] = []
    for piece in _PIECE.findall(text):
        word = piece.lstrip(" ")
        if len(word) > 6 and word.isalpha():
            head = piece[: len(piece) - len(word) + 4]
            tokens.append(head)
            rest = piece[len(head) :]
            tokens.extend(rest[i : i + 4] for i in range(0, len(rest), 4))
        else:
            tokens.append(piece)
    return tokens


def token_ids(tokens: list[str], vocab_size: int) -> list[int]:
    """Deterministic token ids for ``context`` in ``/api/generate``'s final chunk."""
    span = max(1, vocab_size - 1000)
    return [1000 + zlib.crc32(token.encode()) % span for token in tokens]


# --- canned replies ----------------------------------------------------------------------------

REPLIES: tuple[str, ...] = (
    """Here is how to tell whether a model runs **fully on the GPU** or spills into system RAM.

`ollama ps` prints a PROCESSOR column computed from `size` and `size_vram`. When the two match,
every layer lives in VRAM and generation is limited by memory bandwidth alone. When they differ,
the layers left on the CPU dominate the time per token.

- **100% GPU**: expect tens to hundreds of tokens per second.
- **A CPU/GPU split**: the GPU idles while the CPU works through its layers.
- **100% CPU**: every core busy, a few tokens per second at best.

A quick check from Python:

```python
import ollama

for model in ollama.ps().models:
    share = model.size_vram / model.size if model.size else 0.0
    print(f"{model.name}: {share:.0%} on the GPU, context {model.context_length}")
```

If the share is below 100 %, try a smaller quantization or a shorter `num_ctx`: the KV cache grows
linearly with the context, and it competes with the weights for the same VRAM.
""",
    """Quantization trades a little accuracy for a lot of memory. The common GGUF levels:

- **Q4_K_M**: about 4.8 bits per weight; the usual default and a good balance.
- **Q5_K_M**: slightly larger, slightly closer to the original model.
- **Q8_0**: 8.5 bits per weight; nearly lossless, roughly twice the size of Q4.
- **F16**: the unquantized weights; mostly useful for small embedding models.

A rough estimate of what a model needs in VRAM:

```python
def vram_needed_gib(params_b: float, bits: float, ctx: int, layers: int, kv_dim: int) -> float:
    weights = params_b * 1e9 * bits / 8
    kv_cache = 2 * 2 * ctx * kv_dim * layers  # keys and values, f16
    return (weights + kv_cache) / 2**30

print(round(vram_needed_gib(8.0, 4.8, 4096, 32, 1024), 1))
```

The estimate ignores the compute graph and the driver's own reservation, so leave a margin of
half a gigabyte or so. When in doubt, load the model and read `size_vram` from `/api/ps`.
""",
    """Power limits on a consumer card are worth a look before you blame the model.

An RTX 4090 ships with a 450 W limit. Token generation is memory-bound, so lowering the limit to
300-350 W usually costs only a few percent of throughput while the card runs much cooler:

- **Generation** barely notices: it waits on memory, not on the shader clocks.
- **Prompt processing** is compute-bound and slows down roughly with the clock.
- **Transient spikes** above the limit are normal; sustained throttling is not.

To watch the effect while a reply streams:

```sh
nvidia-smi --query-gpu=power.draw,clocks.sm,temperature.gpu --format=csv -l 1
```

If the clocks drop while the temperature sits near the slowdown threshold, the card is thermally
limited instead: check the airflow & the fans before touching the power limit. A dock that trains
the link at Gen4 x4 only slows the model load, not the generation.
""",
    """Streaming a reply token by token keeps the interface responsive.

The server sends one JSON object per line; the last one carries `done: true` and the timings:

- `prompt_eval_count` and `prompt_eval_duration` describe the prompt.
- `eval_count` and `eval_duration` describe the reply; their ratio is the speed.
- `load_duration` is large only when the model had to be loaded first.

A minimal consumer in Python:

```python
import ollama

client = ollama.Client()
stream = client.chat("llama3.1:8b", messages=[{"role": "user", "content": "hi"}], stream=True)
for chunk in stream:
    print(chunk.message.content, end="", flush=True)
    if chunk.done and chunk.eval_duration:
        print(f"\\n{chunk.eval_count / chunk.eval_duration * 1e9:.1f} tok/s")
```

Durations are in nanoseconds. A `<think>` block, if the model has one, arrives before the answer.
""",
)

THOUGHTS: tuple[str, ...] = (
    "The user wants a clear answer. Let me think about what matters most on a single-GPU rig. "
    "Memory bandwidth decides the generation speed, and VRAM decides what fits. I should explain "
    "both briefly, then give a short example they can run.",
    "Okay, so the question is about performance. First I should check whether the model fits in "
    "VRAM, because a split between the CPU and the GPU changes everything. Then the context "
    "length, since the KV cache grows with it. A bulleted summary and a snippet should do.",
    "Hmm, let me work through this step by step. What does the user already know? Probably the "
    "basics of running a local model. So I will skip the introduction, list the key points, and "
    "show one practical command.",
)


def _pick(options: tuple[str, ...], prompt: str, seed: int, salt: str) -> str:
    return options[zlib.crc32(f"{salt}\0{seed}\0{prompt}".encode()) % len(options)]


HOSTILE_TRIGGER = "[hostile]"
HOSTILE_REPLY = (
    "Model output is untrusted. This reply tries every trick:\n\n"
    "Rich markup [bold red]that must not turn bold[/] and a [link=https://evil.example]link[/link].\n\n"
    "Escape sequences: \x1b[2J\x1b[31mclear-and-red\x1b[0m, a bell \x07, a title "
    "\x1b]0;pwned\x07 and a bidi override \u202eevil\u202c.\n\n"
    "Wide characters: 漢字テスト 🚀🚀 and a very long line: " + "x" * 400 + "\n\n"
    "```python\nprint('[bold]code stays code[/bold]')\n```\n"
)
"""What a misbehaving model may send; asked for with ``[hostile]`` in the prompt."""


LONG_TRIGGER = "[long]"
"""Ask for a long reply (all the canned replies in turn, about 2,000 tokens): for benchmarks."""


def canned_reply(prompt: str, seed: int = 0) -> str:
    """The Markdown reply the simulated models give to ``prompt`` (deterministic per seed)."""
    if HOSTILE_TRIGGER in prompt:
        return HOSTILE_REPLY
    if LONG_TRIGGER in prompt:
        long_reply = []
        while len(tokenize("".join(long_reply))) < 2000:
            long_reply.extend(f"\n\n## Part {len(long_reply) + 1}\n\n{reply}" for reply in REPLIES)
        # A last line said once, so a benchmark can tell the whole reply is on the screen.
        ending = f"\n\nThat was all of it, in {len(long_reply)} parts.\n"
        return "".join(long_reply).strip() + ending
    return _pick(REPLIES, prompt, seed, "reply")


def canned_thinking(prompt: str, seed: int = 0) -> str:
    """What a thinking model thinks before answering ``prompt``."""
    return _pick(THOUGHTS, prompt, seed, "thinking")
