"""Features' work on a text done ahead (as the replay does) is used, not done again."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.features.base import Feature
from bot.features.complaints import ComplaintsFeature
from bot.features.karma.feature import KarmaFeature
from bot.features.promo.feature import PromoFeature
from tests.bot.test_engine import posted
from tests.conftest import MakeApp

COMPLAINT = "Seit drei Tagen ist der Login kaputt und keiner antwortet, das nervt total!"
OTHER = "Hat jemand eine Idee, wie ich das Backup starte?"

# Each feature and the pure scorer it calls for a new message.
SCORERS: list[tuple[Callable[[], Feature[Any]], str]] = [
    (ComplaintsFeature, "bot.features.complaints.feature.detect"),
    (KarmaFeature, "bot.features.karma.feature.detect_thanks"),
    (PromoFeature, "bot.features.promo.feature.analyse"),
]


@pytest.mark.parametrize(("make_feature", "scorer"), SCORERS)
async def test_a_message_prepared_ahead_is_not_scored_again(
    make_app: MakeApp,
    monkeypatch: pytest.MonkeyPatch,
    make_feature: Callable[[], Feature[Any]],
    scorer: str,
) -> None:
    app = await make_app(features=[make_feature()])
    prepared, fresh = posted(1, COMPLAINT), replace(posted(2, OTHER), key="test:c:other")
    app.engine.prepare([prepared])
    module, name = scorer.rsplit(".", 1)
    real = getattr(importlib.import_module(module), name)
    calls: list[str] = []

    def spy(text: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(scorer, spy)
    got = await app.engine.process(prepared)
    await app.engine.process(fresh)
    assert calls == [OTHER]  # the prepared text was not scored again, the other one was
    if scorer.endswith(".detect"):  # the prepared verdict is the one the text gets
        verdict = real(COMPLAINT, "de")
        complaint = next(d for d in got.decisions if d.kind == "complaint")
        assert (complaint.data["score"], complaint.data["severity"]) == (
            verdict.score,
            verdict.severity,
        )
