"""Replaying the sample community: every documented karma expectation holds."""

from __future__ import annotations

from collections import Counter
from importlib import resources

from bot.features.karma import KarmaFeature
from bot.replay import replay
from storage.repositories import Store
from tests.conftest import MakeApp

# The sample's expectations count every thanks and reaction as +1: no weighting.
FLAT = """
[karma]
thanks_points = 1
reaction_points = 1
weight_min = 1.0
new_member_days = 0
"""


async def test_sample_community(make_app: MakeApp) -> None:
    app = await make_app(FLAT, features=[KarmaFeature()])
    data = resources.files("bot").joinpath("data/sample_community.jsonl").read_bytes()
    stats = await replay(app, data.splitlines())
    assert stats.errors == []
    async with app.db.session() as session:
        totals = await Store(session).karma.totals("demo")
    assert totals == {
        "chat:ole": 15.0,
        "chat:bernd": 12.0,
        "chat:jule": 11.0,
        "chat:sam": 10.0,
        "chat:mod": 4.0,
        "chat:timo": 1.0,
        "chat:felix": 1.0,
    }
    # m103-m106 and r7/r8: kai and felix thanking back and forth; m115 and m166: two
    # helpers answered at once; m169/m170: the weather bot; m149: felix thanks himself.
    assert stats.blocks == Counter(
        {"reciprocal": 3, "cooldown": 3, "ambiguous": 2, "bot": 2, "self": 1}
    )
    assert stats.decisions["karma_reversed"] == 1  # r24 takes r23 back
