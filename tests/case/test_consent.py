"""Replies to our SMS: the words our texts advertise are the words the webhook understands."""

from __future__ import annotations

import pytest

from renewals.case.callbacks import NumberedReply, numbered_reply
from renewals.case.consent import OPT_OUT_REPLY, opt_choice
from renewals.case.messages import render_sms
from tests.case.test_messages import CONTEXT


@pytest.mark.parametrize("reply", ["T", "t", "TD", "退订", "STOP", "unsubscribe", " T ", "退订。", "ＴＤ",
                                   "ＳＴＯＰ！", "Stop.", "【退订】", "UnSubscribe!"])
def test_opt_out_words_in_any_case_spacing_or_punctuation(reply):
    assert opt_choice(reply) is True


@pytest.mark.parametrize("reply", ["START", "start", "订阅", " 订阅！", "Ｓｔａｒｔ"])
def test_opt_in_words(reply):
    assert opt_choice(reply) is False


@pytest.mark.parametrize("reply", ["", "好的", "TT", "stop calling at night", "2", "谢谢,不退订"])
def test_ordinary_replies(reply):
    assert opt_choice(reply) is None


def test_twilio_recognised_opt_out_is_honoured():
    assert opt_choice("anything", "STOP") is True and opt_choice("anything", "start") is False


@pytest.mark.parametrize(("language", "hint"), [("zh-CN", "回T退订"), ("en", "Reply STOP to opt out")])
@pytest.mark.parametrize("key", ["quote", "service_request"])
def test_the_advertised_word_opts_out(key, language, hint):
    body = render_sms(key, language, CONTEXT).body
    assert hint in body and opt_choice(OPT_OUT_REPLY[language]) is True


def test_a_managers_numbered_reply_keeps_the_words_after_the_number():
    assert numbered_reply("7 亲戚在别家") == NumberedReply(7, "亲戚在别家")
    assert numbered_reply("１，对方便宜300元\n") == NumberedReply(1, "对方便宜300元")  # full-width, as phones type it
    assert numbered_reply(" 2。") == NumberedReply(2, "")
    assert numbered_reply("退订") is None and numbered_reply("好的 7") is None
