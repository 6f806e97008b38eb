"""The request parameters Plivo posts to answer and action URLs (plivo.md §4.4).

Templates and ``if:`` conditions may use these names; at render time an absent one is
an empty string, so ``if: Digits == "1"`` is simply false on a request without digits.
"""

from __future__ import annotations

REQUEST_PARAMETERS: tuple[str, ...] = (
    # every answer/action request
    "CallUUID", "From", "To", "CallStatus", "Direction", "Event",
    "CallerName", "ForwardedFrom", "ALegUUID", "ALegRequestUUID", "RequestUUID",
    "SessionStart", "STIRAttestation", "STIRVerification",
    # hangup
    "HangupCause", "HangupCauseName", "HangupCauseCode", "HangupSource",
    "Duration", "BillDuration", "BilledAmount", "TotalCost",
    # GetDigits / GetInput action
    "Digits", "Speech", "SpeechConfidenceScore", "InputType", "UnstableSpeech",
    "BilledUnits",
    # Record action / callback
    "RecordUrl", "RecordingID", "RecordingDuration", "RecordingDurationMs",
    "RecordingStartMs", "RecordingEndMs", "RecordFile",
    # Dial action / callback
    "DialRingStatus", "DialHangupCause", "DialStatus", "DialALegUUID", "DialBLegUUID",
    "DialAction", "DialBLegStatus", "DialBLegTo", "DialBLegFrom", "DialBLegDuration",
    "DialBLegBillDuration", "DialBLegHangupCause",
    # Conference / MultiPartyCall action
    "ConferenceName", "ConferenceUUID", "ConferenceMemberID", "ConferenceAction",
    "MPCName", "MPCUUID", "MemberID", "ParticipantID",
    # Stream status callback
    "StreamID", "Status", "Timestamp", "Error",
    # machine detection
    "Machine",
)
"""Every request parameter name a template may use without defining it."""

PARAMETER_DEFAULTS: dict[str, str] = dict.fromkeys(REQUEST_PARAMETERS, "")
"""What an absent request parameter renders as."""
