"""Complaints: recognise them, answer humour-first and honestly, make sure a person follows up.

Owners replace the reply templates per severity in the config::

    [complaints]
    support_hours = "Mo–Fr 9–17 Uhr"
    templates_low = ["Danke, {name}! Unser Team antwortet {hours}."]
"""

from bot.features.complaints.detect import ComplaintResult, Signal
from bot.features.complaints.feature import ComplaintsFeature
from bot.features.complaints.settings import ComplaintsSettings

__all__ = ["ComplaintResult", "ComplaintsFeature", "ComplaintsSettings", "Signal"]
