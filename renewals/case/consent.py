"""What a customer's SMS reply means for their consent (pure): the one list of opt-out and opt-in
words, used by the SMS templates ("回T退订") and the inbound-SMS webhook alike, so they cannot
disagree."""

from __future__ import annotations

import unicodedata

OPT_OUT_WORDS = frozenset({"t", "td", "退订", "stop", "unsubscribe"})
OPT_IN_WORDS = frozenset({"start", "订阅"})
# The word each language's texts advertise (templates: "回{{ opt_out_reply }}退订").
OPT_OUT_REPLY = {"zh-CN": "T", "en": "STOP"}
assert {word.lower() for word in OPT_OUT_REPLY.values()} <= OPT_OUT_WORDS


def reply_word(body: str) -> str:
    """The reply reduced to its word: full-width folded to ASCII (NFKC), case ignored, spaces,
    punctuation and symbols around it dropped ("  退订。" → "退订", "ｔ" → "t")."""
    text = unicodedata.normalize("NFKC", body).casefold()
    keep = lambda ch: not (ch.isspace() or unicodedata.category(ch)[0] in "PSZC")  # noqa: E731
    start, end = 0, len(text)
    while start < end and not keep(text[start]):
        start += 1
    while end > start and not keep(text[end - 1]):
        end -= 1
    return text[start:end]


def opt_choice(body: str, twilio_opt_out_type: str = "") -> bool | None:
    """True: opt out, False: opt back in, None: an ordinary reply. Twilio's own OptOutType (set
    when its Advanced Opt-Out recognised the message) is honoured too."""
    kind = twilio_opt_out_type.upper()
    word = reply_word(body)
    if kind == "STOP" or word in OPT_OUT_WORDS:
        return True
    if kind == "START" or word in OPT_IN_WORDS:
        return False
    return None
