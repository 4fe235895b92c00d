"""BERT: a bidirectional transformer encoder with Hugging Face's structure and parameter names.

Shape glossary (used in the ``# (...)`` comments on every tensor line):
    B  batch size                T  sequence length, at most max_position_embeddings
    C  hidden width hidden_size  I  feed-forward width intermediate_size
    H  attention heads           D  head size, C // H

The model, bottom to top:
    x = LN(word[ids] + position[0..T) + token_type[type_ids])    embeddings, LayerNorm  (B, T, C)
    for each of num_hidden_layers layers (post-norm residual, as the BERT paper):
        x = LN(x + attn(x))                    bidirectional multi-head self-attention
        x = LN(x + W2 gelu(W1 x))              C -> I -> GELU (exact erf) -> C
    last_hidden_state = x                                                                 (B, T, C)
    pooler_output = tanh(dense(x[:, 0]))       the [CLS] position, squashed               (B, C)

Unlike GPT (``gpt.py``), every position sees every other one: there is no causal mask. The only
mask is over padded *keys*: ``attention_mask`` (B, T), 1 for a real token and 0 for padding,
becomes a bool (B, 1, 1, T) mask so that no query attends to a padded position (and no mask at
all when nothing is padded, as at batch 1). Padded *query* rows are still computed (they attend
to the real tokens) and carry values, as in Hugging Face; they are simply ignored downstream
(``sentence.py`` averages over real tokens only).
A sequence whose mask is all 0 has nothing to attend to: its rows come out of attention as
zeros here, where Hugging Face's additive mask would average over the padding.

Parameter names match Hugging Face's ``BertModel`` one to one (``embeddings.word_embeddings``,
``encoder.layer.0.attention.self.query``, ``encoder.layer.0.output.LayerNorm``, ``pooler.dense``,
...), and both store Linear weights as (out, in), so a checkpoint loads with no renaming or
transposing: :meth:`BertModel.from_pretrained`.

Read next: ``minillm/nn/attention_functions.py`` (the masked attention), then ``sentence.py``
(sentence embeddings by mean pooling).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

import minillm
from minillm import nn
from minillm.io import safetensors
from minillm.models.pretrained import resolve_pretrained
from minillm.nn import functional as F
from minillm.tensor import Tensor, as_tensor

# config.json's hidden_act -> GELU's ``approximate``; BERT itself uses the exact (erf) form.
_ACTIVATIONS = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}


@dataclass
class BertConfig:
    """Hyperparameters of a BERT, with the field names of Hugging Face's config.json.

    The defaults are BERT-base. :meth:`from_dict` and :meth:`from_json_file` read a config.json,
    keeping the keys named here and ignoring the rest (``model_type``, ``architectures``, ...).
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        counts = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                  "intermediate_size", "max_position_embeddings", "type_vocab_size")  # fmt: skip
        for name in counts:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig: hidden_size={self.hidden_size} must be divisible by "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act={self.hidden_act!r} is not supported; use one of "
                f"{sorted(_ACTIVATIONS)}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.layer_norm_eps > 0.0:
            raise ValueError(f"BertConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BertConfig:
        """The config from a dict such as a parsed config.json; unrelated keys are ignored."""
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(
                f"BertConfig: position_embedding_type={d['position_embedding_type']!r} is not "
                f"supported (only 'absolute')"
            )
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_json_file(cls, path: str | Path) -> BertConfig:
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(d).__name__}")
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BertModelOutput:
    """What :meth:`BertModel.forward` returns (Hugging Face's fields, same meaning)."""

    last_hidden_state: Tensor  # (B, T, C) the top layer's output
    pooler_output: Tensor  # (B, C) tanh(dense([CLS]))
    hidden_states: tuple[Tensor, ...] | None = None  # L + 1 of (B, T, C): embeddings, layer 1..L
    attentions: tuple[Tensor, ...] | None = None  # L of (B, H, T, T): softmax weights, rows sum 1


class Embeddings(nn.Module):
    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        C = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, C, dtype=dtype)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, C, dtype=dtype)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, C, dtype=dtype)
        self.LayerNorm = nn.LayerNorm(C, eps=config.layer_norm_eps, dtype=dtype)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, ids: Tensor, type_ids: Tensor) -> Tensor:
        T = ids.shape[1]
        x = self.word_embeddings(ids)  # (B, T, C)
        x = x + self.position_embeddings(minillm.arange(T))  # (T, C) broadcast over B
        x = x + self.token_type_embeddings(type_ids)  # (B, T, C)
        return self.dropout(self.LayerNorm(x))  # (B, T, C)


class SelfAttention(nn.Module):
    """Three projections, then softmax(q k^T / sqrt(D) + mask) v per head."""

    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        C = config.hidden_size
        self.n_head = config.num_attention_heads
        self.dropout_p = config.attention_probs_dropout_prob
        self.query = nn.Linear(C, C, dtype=dtype)
        self.key = nn.Linear(C, C, dtype=dtype)
        self.value = nn.Linear(C, C, dtype=dtype)

    def forward(
        self, x: Tensor, mask: np.ndarray | None, want_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head

        def heads(t: Tensor) -> Tensor:
            return t.reshape(B, T, H, D).transpose(1, 2)  # (B, H, T, D)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        p = self.dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=p, return_weights=want_weights
        )
        y, weights = out if want_weights else (out, None)  # (B, H, T, D), (B, H, T, T)
        return y.transpose(1, 2).reshape(B, T, C), weights  # (B, T, C)


class AttentionOutput(nn.Module):
    """Project the heads' output, add the residual, normalize (post-norm)."""

    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, dtype=dtype)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, y: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(y)) + residual)  # (B, T, C)


class Attention(nn.Module):
    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.self = SelfAttention(config, dtype)  # Hugging Face's name, hence ``self.self``
        self.output = AttentionOutput(config, dtype)

    def forward(
        self, x: Tensor, mask: np.ndarray | None, want_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        y, weights = self.self(x, mask, want_weights)  # (B, T, C)
        return self.output(y, x), weights  # (B, T, C)


class Intermediate(nn.Module):
    """The feed-forward network's first half: C -> I, then GELU."""

    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size, dtype=dtype)
        self.gelu = nn.GELU(approximate=_ACTIVATIONS[config.hidden_act])

    def forward(self, x: Tensor) -> Tensor:
        return self.gelu(self.dense(x))  # (B, T, I)


class LayerOutput(nn.Module):
    """The feed-forward network's second half: I -> C, add the residual, normalize."""

    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, dtype=dtype)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)  # (B, T, C)


class Layer(nn.Module):
    """One encoder layer: attention, then the feed-forward network, each post-norm residual."""

    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.attention = Attention(config, dtype)
        self.intermediate = Intermediate(config, dtype)
        self.output = LayerOutput(config, dtype)

    def forward(
        self, x: Tensor, mask: np.ndarray | None, want_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        a, weights = self.attention(x, mask, want_weights)  # (B, T, C)
        return self.output(self.intermediate(a), a), weights  # (B, T, C)


class Encoder(nn.Module):
    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.layer = nn.ModuleList([Layer(config, dtype) for _ in range(config.num_hidden_layers)])


class Pooler(nn.Module):
    """tanh(dense(x[:, 0])): the [CLS] vector, which BERT's pretraining fed to its NSP head."""

    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(self.dense(x[:, 0]))  # (B, C)


def _int_array(value: Any, what: str) -> np.ndarray:
    """ids, a mask or type ids as an int64 (B, T) array; (T,) becomes (1, T)."""
    try:
        a = value.data if isinstance(value, Tensor) else np.asarray(value)
    except ValueError:  # ragged nested lists
        raise ValueError(
            f"BertModel: {what} are ragged; pad every sequence to one length"
        ) from None
    if a.dtype == object:
        raise ValueError(f"BertModel: {what} are ragged; pad every sequence to one length")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"BertModel: {what} must be (B, T) or (T,) with T >= 1, got {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"BertModel: {what} must be integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


class BertModel(nn.Module):
    """A BERT encoder; ``forward`` returns a :class:`BertModelOutput`.

    >>> import minillm
    >>> from minillm.models.bert import BertConfig, BertModel
    >>> _ = minillm.manual_seed(0)
    >>> cfg = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2,
    ...                  num_attention_heads=2, intermediate_size=16)
    >>> out = BertModel(cfg).eval()([[2, 5, 7, 3, 0]], attention_mask=[[1, 1, 1, 1, 0]],
    ...                             output_attentions=True)
    >>> out.last_hidden_state.shape, out.pooler_output.shape, out.attentions[0].shape
    ((1, 5, 8), (1, 8), (1, 2, 5, 5))
    >>> float(out.attentions[0][0, 0, :, 4].abs().max())  # nobody attends to the padding
    0.0
    """

    def __init__(self, config: BertConfig, dtype: Any = None) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config, dtype)
        self.encoder = Encoder(config, dtype)
        self.pooler = Pooler(config, dtype)
        self._init_weights()

    def _init_weights(self) -> None:
        """BERT's scheme: weights N(0, initializer_range), biases zero, LayerNorms (1, 0)."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, std)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, std)

    def forward(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BertModelOutput:
        """Encode a batch of token ids.

        Args:
            input_ids: ints (B, T) or (T,): lists, arrays or Tensors, each < vocab_size.
            attention_mask: (B, T), 1 for real tokens and 0 for padding; None means all real.
            token_type_ids: (B, T) segment ids (0 for sentence A, 1 for B); None means all 0.
            output_attentions: also return every layer's attention weights.
            output_hidden_states: also return the embeddings' and every layer's output.
        """
        cfg = self.config
        ids = _int_array(input_ids, "input_ids")
        T = ids.shape[1]
        if cfg.max_position_embeddings < T:
            raise ValueError(
                f"BertModel: input_ids {ids.shape} have {T} positions, more than "
                f"max_position_embeddings={cfg.max_position_embeddings}; truncate the input"
            )
        if ids.min() < 0 or ids.max() >= cfg.vocab_size:
            bad = int(ids.max() if ids.max() >= cfg.vocab_size else ids.min())
            raise ValueError(f"BertModel: token id {bad} is outside [0, {cfg.vocab_size})")
        mask = None
        if attention_mask is not None:
            m = _int_array(attention_mask, "attention_mask")
            if m.shape != ids.shape:
                raise ValueError(
                    f"BertModel: attention_mask {m.shape} does not match input_ids {ids.shape}"
                )
            if not np.isin(m, (0, 1)).all():
                raise ValueError("BertModel: attention_mask must hold only 0 and 1")
            if not m.all():  # no padding (always so at batch 1) needs no mask: the same result
                mask = (m != 0)[:, None, None, :]  # (B, 1, 1, T): True = this key may be attended
        types = np.zeros_like(ids)
        if token_type_ids is not None:
            types = _int_array(token_type_ids, "token_type_ids")
            if types.shape != ids.shape:
                raise ValueError(
                    f"BertModel: token_type_ids {types.shape} do not match input_ids {ids.shape}"
                )
            if types.min() < 0 or types.max() >= cfg.type_vocab_size:
                raise ValueError(
                    f"BertModel: token_type_ids must be in [0, {cfg.type_vocab_size}), got "
                    f"values {types.min()}..{types.max()}"
                )
        x = self.embeddings(as_tensor(ids), as_tensor(types))  # (B, T, C)
        hidden = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.encoder.layer:
            x, weights = layer(x, mask, output_attentions)  # (B, T, C), (B, H, T, T) or None
            if hidden is not None:
                hidden.append(x)
            if attentions is not None:
                attentions.append(weights)
        return BertModelOutput(
            last_hidden_state=x,
            pooler_output=self.pooler(x),
            hidden_states=None if hidden is None else tuple(hidden),
            attentions=None if attentions is None else tuple(attentions),
        )

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path, dtype: Any = "float32") -> BertModel:
        """A model from a Hugging Face folder (config.json + model.safetensors) or a known name.

        Names map one to one. ``embeddings.position_ids`` (a constant buffer in old checkpoints)
        is skipped; a ``bert.`` prefix (a checkpoint saved with a task head) is stripped and the
        keys outside it (the head) are skipped. Every parameter must then be present with the
        model's shape, and no other key may be left. The model is returned in eval mode.
        """
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(
                f"BertModel.from_pretrained: dtype must be float32 or float64, got {dtype}"
            )
        folder = resolve_pretrained(path_or_name, needs=("config.json", "model.safetensors"))
        config = BertConfig.from_json_file(folder / "config.json")
        file = folder / "model.safetensors"
        model = cls(config, dtype=dtype)
        model.load_state_dict(_checked_weights(model, safetensors.load(file), file))
        return model.eval()


def _checked_weights(model: nn.Module, tensors: dict[str, Tensor], file: Path) -> dict[str, Any]:
    """The file's tensors under the model's names, after checking they fit exactly."""
    if any(k.startswith("bert.") for k in tensors):
        tensors = {k[len("bert.") :]: v for k, v in tensors.items() if k.startswith("bert.")}
    tensors = {k: v for k, v in tensors.items() if k != "embeddings.position_ids"}
    own = model.state_dict()
    problems = [
        f"missing {k!r} (shape {tuple(t.shape)})" for k, t in own.items() if k not in tensors
    ]
    problems += [
        f"unexpected {k!r} (shape {tuple(t.shape)})" for k, t in tensors.items() if k not in own
    ]
    problems += [
        f"{k!r} has shape {tuple(t.shape)} in the file, {tuple(own[k].shape)} in the model"
        for k, t in tensors.items()
        if k in own and tuple(t.shape) != tuple(own[k].shape)
    ]
    if problems:
        shown = "; ".join(problems[:8]) + ("; ..." if len(problems) > 8 else "")
        raise ValueError(f"{file}: the weights do not fit BertModel: {shown}")
    return tensors
