"""Models built only from minillm.nn: ``gpt.GPT`` (decoder-only, GPT-2 names), ``bert.BertModel``
(a BERT encoder, Hugging Face's names), ``sentence.SentenceEncoder`` (sentence embeddings) and
``inspect_attention.attention_weights`` (a text's attention maps, every layer and head).
``command.py`` holds the ``minillm attention`` and ``minillm embed`` commands."""

from minillm.models.bert import BertConfig, BertModel, BertModelOutput
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.inspect_attention import attention_weights
from minillm.models.sentence import SentenceEncoder

__all__ = [
    "GPT",
    "BertConfig",
    "BertModel",
    "BertModelOutput",
    "GPTConfig",
    "SentenceEncoder",
    "attention_weights",
]
