"""Models built only from minillm.nn: ``gpt.GPT`` (decoder-only, GPT-2 names), ``bert.BertModel``
(a BERT encoder, Hugging Face's names) and ``sentence.SentenceEncoder`` (sentence embeddings)."""

from minillm.models.bert import BertConfig, BertModel, BertModelOutput
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.sentence import SentenceEncoder

__all__ = ["GPT", "BertConfig", "BertModel", "BertModelOutput", "GPTConfig", "SentenceEncoder"]
