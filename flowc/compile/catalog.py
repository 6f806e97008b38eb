"""The catalog of Plivo XML elements: attributes, types, ranges, defaults, nesting.

Data only; the schema generator, the validator and the emitter all read it.

Sources: the Plivo XML docs (``plivo.com/docs/voice/xml/*``, digested in
``../shared/plivo.md`` §1-§2) decide what Plivo *accepts* (enums, ranges); the installed
``plivo`` SDK (4.63.0, ``plivo/xml/*.py``) decides the *emission form*: attribute
spelling and order (``to_dict`` insertion order), and which attributes it always emits
(``MultiPartyCallElement`` emits every constructor default). Where the two disagree the
attribute's ``description`` says so.

Conventions:

* ``type == "url"``: a fully qualified ``http(s)`` URL or a flowc ``#name`` reference;
  ``enum`` then lists the *extra non-URL literals* also accepted (``beep:1``, ``real``).
* ``type == "boolean"``: YAML ``true``/``false``, emitted ``"true"``/``"false"``.
* ``pattern`` is a Python/ECMA regular expression matched against the whole value
  (``re.fullmatch``); for ``integer`` attributes it is not used.
* ``case_insensitive``: Plivo accepts any case; emit the ``enum`` spelling (the SDK
  normalises these, e.g. MultiPartyCall ``role`` is lower-cased).
* ``required``: Plivo rejects the element without it.
* ``default`` is Plivo's documented default, never emitted unless ``always_emit``; for
  ``always_emit`` attributes it is the value the SDK emits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

AttrType = Literal["string", "integer", "number", "boolean", "url"]
Content = Literal["none", "text", "url", "optional-url"]


@dataclass(frozen=True)
class AttributeSpec:
    """One XML attribute of a Plivo element."""

    name: str
    type: AttrType
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    max_bytes: int | None = None
    default: Any = None
    always_emit: bool = False
    description: str = ""
    sdk_kwarg: str = ""
    required: bool = False
    case_insensitive: bool = False


@dataclass(frozen=True)
class ElementSpec:
    """One Plivo XML element (verb, noun or SSML tag)."""

    name: str
    attributes: tuple[AttributeSpec, ...]
    content: Content
    children: tuple[str, ...] = ()
    ssml: bool = False
    description: str = ""
    sdk_class: str = ""
    content_pattern: str | None = None
    """Regular expression the (rendered) text content must fully match, if any."""

    def attribute(self, name: str) -> AttributeSpec | None:
        """The attribute spelled ``name`` (Plivo spelling), if the element has it."""
        for attr in self.attributes:
            if attr.name == name:
                return attr
        return None


# ---------------------------------------------------------------- attribute builders

_METHODS = ("GET", "POST")
_DIGIT_KEY = r"[0-9*#]|none|"
_DIGITS_MATCH = r"[0-9*#]+(,[0-9*#]+)*"
_KEY_VALUES = r"[A-Za-z0-9]+=[A-Za-z0-9]+(,[A-Za-z0-9]+=[A-Za-z0-9]+)*"
_SEND_DIGITS = r"[0-9*#wW]+"


def _a(
    name: str,
    kwarg: str,
    type_: AttrType = "string",
    description: str = "",
    **kw: Any,
) -> AttributeSpec:
    return AttributeSpec(name=name, type=type_, sdk_kwarg=kwarg, description=description, **kw)


def _url(name: str, kwarg: str, description: str = "", **kw: Any) -> AttributeSpec:
    return _a(name, kwarg, "url", description, **kw)


def _method(name: str, kwarg: str, default: str | None = "POST", **kw: Any) -> AttributeSpec:
    return _a(name, kwarg, "string", "HTTP method for the matching URL.", enum=_METHODS,
              default=default, **kw)


def _bool(name: str, kwarg: str, default: bool | None, description: str = "",
          **kw: Any) -> AttributeSpec:
    return _a(name, kwarg, "boolean", description, default=default, **kw)


def _int(name: str, kwarg: str, default: int | None = None, minimum: float | None = None,
         maximum: float | None = None, description: str = "", **kw: Any) -> AttributeSpec:
    return _a(name, kwarg, "integer", description, default=default, minimum=minimum,
              maximum=maximum, **kw)


# --------------------------------------------------------------------------- verbs

_SPEAK = ElementSpec(
    name="Speak",
    sdk_class="SpeakElement",
    content="text",
    ssml=True,
    description=("Text to speech. SSML tags need Polly voices "
                 "(plivo.com/docs/voice/xml/audio-output)."),
    attributes=(
        _a("voice", "voice", description="WOMAN, MAN, or a Polly voice (Polly.Joanna...) for SSML.",
           pattern=r"WOMAN|MAN|Polly\.[A-Za-z0-9_-]+", default="WOMAN"),
        _a("language", "language", description="Language/locale, e.g. en-US.",
           pattern=r"[a-z]{2,3}(-[A-Za-z0-9]{2,4})?", default="en-US"),
        _int("loop", "loop", 1, 0, description="Times to speak; 0 repeats until the call ends."),
    ),
)

_PLAY = ElementSpec(
    name="Play",
    sdk_class="PlayElement",
    content="url",
    description="Plays an audio file (mp3/wav URL).",
    attributes=(
        _int("loop", "loop", 1, 0, description="Times to play; 0 repeats until the call ends."),
    ),
)

_WAIT = ElementSpec(
    name="Wait",
    sdk_class="WaitElement",
    content="none",
    description="Pauses the call flow (docs.plivo.com/docs/voice/xml/wait).",
    attributes=(
        _int("length", "length", 1, 1, description="Seconds to wait (> 0)."),
        _bool("silence", "silence", False, "Wait for silence (answering machine detection)."),
        _int("minSilence", "min_silence", 2000, 0,
             description="Milliseconds of silence that end the wait when silence is true."),
        _bool("beep", "beep", False, "Wait for a voicemail beep (machine detection)."),
    ),
)

_GET_DIGITS = ElementSpec(
    name="GetDigits",
    sdk_class="GetDigitsElement",
    content="none",
    children=("Speak", "Play"),
    description=("Collects DTMF digits; Plivo recommends GetInput instead. Docs allow nested "
                 "Speak and Play (the SDK also allows Wait; docs win)."),
    attributes=(
        _url("action", "action", "URL the digits are sent to."),
        _method("method", "method"),
        _int("timeout", "timeout", 5, 1, description="Seconds to wait for the first digit."),
        _int("digitTimeout", "digit_timeout", 2, 1, description="Seconds between digits."),
        _a("finishOnKey", "finish_on_key", pattern=_DIGIT_KEY, default="#",
           description="One key (0-9, *, #) that submits, or empty/none to disable."),
        _int("numDigits", "num_digits", 99, 1, description="Maximum digits to collect."),
        _int("retries", "retries", 1, 1, description="Attempts when no digits arrive."),
        _bool("redirect", "redirect", True, "Redirect to action (true) or fetch it and continue."),
        _bool("playBeep", "play_beep", False, "Beep after the nested prompts."),
        _a("validDigits", "valid_digits", pattern=r"[0-9*#]+", default="1234567890*#",
           description="Digits the caller may press."),
        _url("invalidDigitsSound", "invalid_digits_sound", "Audio played on an invalid digit."),
        _bool("log", "log", True, "Log the digits (false for sensitive input)."),
    ),
)

_END_TIMEOUT = r"auto|[2-9]|10"

_GET_INPUT = ElementSpec(
    name="GetInput",
    sdk_class="GetInputElement",
    content="none",
    children=("Speak", "Play"),
    description=("Collects DTMF and/or speech (plivo.com/docs/voice/xml/getinput). Docs allow "
                 "nested Speak and Play (the SDK also allows Wait; docs win)."),
    attributes=(
        _url("action", "action", "URL the input is sent to.", required=True),
        _method("method", "method"),
        _a("inputType", "input_type", enum=("dtmf", "speech", "dtmf speech"), required=True,
           description="Input to detect; 'dtmf speech' relays whichever comes first."),
        _int("executionTimeout", "execution_timeout", 15, 5, 60,
             description="Seconds of input detection after the prompts end."),
        _a("digitEndTimeout", "digit_end_timeout", pattern=_END_TIMEOUT, default="auto",
           description=("Seconds between digits, 2-10, or 'auto' (docs type: string). "
                        "The SDK constructor int()s it, so it cannot build 'auto'.")),
        _a("speechEndTimeout", "speech_end_timeout", pattern=_END_TIMEOUT, default="auto",
           description=("Seconds of silence that end speech, 2-10, or 'auto'. "
                        "The SDK constructor int()s it, so it cannot build 'auto'.")),
        _a("finishOnKey", "finish_on_key", pattern=_DIGIT_KEY, default="#",
           description="One key (0-9, *, #) that submits, or empty/none to disable."),
        _int("numDigits", "num_digits", None, 1, description="Maximum digits to collect."),
        _a("speechModel", "speech_model", enum=("default", "command_and_search", "phone_call"),
           default="default", description="Speech recognition model."),
        _a("hints", "hints", description="Comma-separated phrases that bias recognition."),
        _a("language", "language", default="en-US", pattern=r"[a-z]{2,3}(-[A-Za-z0-9]{2,4})?",
           description="Speech recognition language."),
        _url("interimSpeechResultsCallback", "interim_speech_results_callback",
             "URL receiving partial transcripts."),
        _method("interimSpeechResultsCallbackMethod", "interim_speech_results_callback_method"),
        _bool("log", "log", True, "Log the input (false for sensitive input)."),
        _bool("redirect", "redirect", True, "Redirect to action (true) or fetch it and continue."),
        _bool("profanityFilter", "profanity_filter", False, "Mask profanity in transcripts."),
    ),
)

_RECORD = ElementSpec(
    name="Record",
    sdk_class="RecordElement",
    content="none",
    description="Records the call (docs.plivo.com/docs/voice/xml/record).",
    attributes=(
        _url("action", "action", "URL the recording result is sent to."),
        _method("method", "method"),
        _a("fileFormat", "file_format", enum=("mp3", "wav"), default="mp3"),
        _bool("redirect", "redirect", True, "Redirect to action (true) or fetch it and continue."),
        _int("timeout", "timeout", 15, 1, description="Seconds of silence that end the recording."),
        _int("maxLength", "max_length", 60, 1, description="Maximum seconds to record."),
        _bool("playBeep", "play_beep", True, "Beep before recording."),
        _a("finishOnKey", "finish_on_key", pattern=r"[0-9*#]+|none|", default="#",
           description="Keys that stop the recording (docs: any digit, #, *; older docs "
                       "default 1234567890*#)."),
        _bool("recordSession", "record_session", False, "Record the whole call in background."),
        _bool("startOnDialAnswer", "start_on_dial_answer", False,
              "Start recording when a Dial is answered."),
        _a("transcriptionType", "transcription_type", enum=("auto", "hybrid"),
           description="Transcription kind (current docs: auto; older docs also hybrid)."),
        _url("transcriptionUrl", "transcription_url", "URL receiving the transcription."),
        _method("transcriptionMethod", "transcription_method"),
        _a("transcriptionReportType", "transcription_report_type",
           description="SDK-only attribute; not in current Plivo docs."),
        _url("callbackUrl", "callback_url", "URL notified when the file is ready."),
        _method("callbackMethod", "callback_method"),
        _a("recordChannelType", "record_channel_type", enum=("mono", "stereo"), default="stereo",
           description="Channel layout (current docs default stereo)."),
    ),
)

_DIAL = ElementSpec(
    name="Dial",
    sdk_class="DialElement",
    content="none",
    children=("Number", "User"),
    description=("Dials Number/User children and bridges the caller "
                 "(plivo.com/docs/voice/xml/dial)."),
    attributes=(
        _url("action", "action", "URL requested when the Dial ends."),
        _method("method", "method"),
        _bool("hangupOnStar", "hangup_on_star", False, "Caller may press * to hang up the B leg."),
        _int("timeLimit", "time_limit", 14400, 1, description="Maximum call seconds."),
        _int("timeout", "timeout", None, 1, description="Seconds the callee has to answer."),
        _a("callerId", "caller_id", description="Caller number shown to the callee."),
        _a("callerName", "caller_name", pattern=r".{0,50}",
           description="Caller name (at most 50 characters)."),
        _url("confirmSound", "confirm_sound", "XML URL played to the callee on answer."),
        _int("confirmTimeout", "confirm_timeout", 120, 1,
             description="Seconds to press confirmKey (ResponseElement.add_dial lacks it)."),
        _a("confirmKey", "confirm_key", pattern=r"[0-9*#]",
           description="Key the callee presses to accept."),
        _url("dialMusic", "dial_music", "XML URL played while ringing, or 'real' for ringback.",
             enum=("real",)),
        _url("callbackUrl", "callback_url", "URL receiving dial events."),
        _method("callbackMethod", "callback_method"),
        _bool("redirect", "redirect", True, "Redirect to action (true) or fetch it and continue."),
        _a("digitsMatch", "digits_match", pattern=_DIGITS_MATCH,
           description="Comma-separated DTMF patterns reported on the A leg."),
        _a("digitsMatchBLeg", "digits_match_b_leg", pattern=_DIGITS_MATCH,
           description="Comma-separated DTMF patterns reported on the B leg."),
        _a("sipHeaders", "sip_headers", pattern=_KEY_VALUES,
           description="key=value,... sent as X-PH- SIP headers ([A-Za-z0-9] only)."),
    ),
)

_NUMBER = ElementSpec(
    name="Number",
    sdk_class="NumberElement",
    content="text",
    content_pattern=r"\+?[0-9]{2,20}",
    description="A phone number to dial (inside Dial).",
    attributes=(
        _a("sendDigits", "send_digits", pattern=_SEND_DIGITS,
           description="DTMF sent on answer; w waits 0.5 s, W 1 s."),
        _bool("sendOnPreanswer", "send_on_preanswer", False, "Send digits during early media."),
        _a("sendDigitsMode", "send_digits_mode",
           description="SDK-only attribute; not in current Plivo docs (values unconfirmed)."),
    ),
)

_USER = ElementSpec(
    name="User",
    sdk_class="UserElement",
    content="text",
    content_pattern=r"sips?:\S+",
    description="A SIP endpoint to dial (inside Dial), e.g. sip:alice@phone.plivo.com.",
    attributes=(
        _a("sendDigits", "send_digits", pattern=_SEND_DIGITS,
           description="DTMF sent on answer; w waits 0.5 s, W 1 s."),
        _bool("sendOnPreanswer", "send_on_preanswer", False, "Send digits during early media."),
        _a("sipHeaders", "sip_headers", pattern=_KEY_VALUES,
           description="key=value,... sent as X-PH- SIP headers ([A-Za-z0-9] only)."),
    ),
)

_CONFERENCE = ElementSpec(
    name="Conference",
    sdk_class="ConferenceElement",
    content="text",
    description="Joins a named conference room (docs.plivo.com/docs/voice/xml/conference).",
    attributes=(
        _bool("muted", "muted", False, "Join muted."),
        _url("enterSound", "enter_sound", "Sound on entry: beep:1, beep:2, or an XML URL.",
             enum=("", "beep:1", "beep:2"), default=""),
        _url("exitSound", "exit_sound", "Sound on exit: beep:1, beep:2, or an XML URL.",
             enum=("", "beep:1", "beep:2"), default=""),
        _bool("startConferenceOnEnter", "start_conference_on_enter", True),
        _bool("endConferenceOnExit", "end_conference_on_exit", False),
        _bool("stayAlone", "stay_alone", True, "Keep the conference with one member."),
        _url("waitSound", "wait_sound", "XML URL played while waiting to start."),
        _int("maxMembers", "max_members", 20, 1, 20,
             description="Maximum members (current docs 1-20; older docs said 100)."),
        _bool("record", "record", False),
        _a("recordFileFormat", "record_file_format", enum=("mp3", "wav"), default="mp3"),
        _int("timeLimit", "time_limit", 86400, 1, description="Maximum conference seconds."),
        _bool("hangupOnStar", "hangup_on_star", False, "Member may press * to leave."),
        _url("action", "action", "URL requested when the member leaves."),
        _method("method", "method"),
        _url("callbackUrl", "callback_url", "URL receiving conference events."),
        _method("callbackMethod", "callback_method"),
        _a("digitsMatch", "digits_match", pattern=_DIGITS_MATCH,
           description="Comma-separated DTMF patterns to report."),
        _bool("floorEvent", "floor_event", False, "Report floor-holder changes."),
        _bool("redirect", "redirect", True, "Redirect to action (true) or fetch it and continue."),
        _bool("relayDTMF", "relay_dtmf", True, "Relay DTMF to all members."),
        _a("sendDigits", "send_digits", pattern=_SEND_DIGITS, description="DTMF sent on join."),
        _bool("recordWhenAlone", "record_when_alone", False),
        _a("transcriptionType", "transcription_type", enum=("auto", "hybrid", "manual")),
        _url("transcriptionUrl", "transcription_url", "URL receiving the transcription."),
        _method("transcriptionMethod", "transcription_method"),
    ),
)

_MPC_EVENTS = ("mpc-state-changes", "participant-state-changes", "participant-speak-events",
               "participant-digit-input-events", "add-participant-api-events")
_MPC_NOTE = "SDK emits its default when unset."


def _mpc_method(name: str, kwarg: str, default: str) -> AttributeSpec:
    return _a(name, kwarg, "string", "HTTP method for the matching URL. " + _MPC_NOTE,
              enum=_METHODS, default=default, always_emit=True, case_insensitive=True)


def _mpc_bool(name: str, kwarg: str, default: bool, description: str = "") -> AttributeSpec:
    return _bool(name, kwarg, default, (description + " " + _MPC_NOTE).strip(), always_emit=True)


_MPC = ElementSpec(
    name="MultiPartyCall",
    sdk_class="MultiPartyCallElement",
    content="text",
    description=("Adds the call to a multiparty call by name "
                 "(docs.plivo.com/docs/voice/xml/multipartycall). The SDK emits every "
                 "constructor default, so flowc does too (always_emit)."),
    attributes=(
        _a("role", "role", enum=("agent", "supervisor", "customer", "ai-agent"), required=True,
           case_insensitive=True, description="Participant role; the SDK lower-cases it."),
        _int("maxDuration", "max_duration", 14400, 300, 28800, always_emit=True,
             description="MPC maximum seconds. " + _MPC_NOTE),
        _int("maxParticipants", "max_participants", 10, 2, 10, always_emit=True,
             description=_MPC_NOTE),
        _int("recordMinMemberCount", "record_min_member_count", 1, 1, 2, always_emit=True,
             description=_MPC_NOTE),
        _url("waitMusicUrl", "wait_music_url", "XML URL played while waiting."),
        _mpc_method("waitMusicMethod", "wait_music_method", "GET"),
        _int("waitTime", "wait_time", None, 0, 1800,
             description="Seconds a participant waits for the MPC to start (SDK range)."),
        _url("agentHoldMusicUrl", "agent_hold_music_url", "XML URL played to held agents."),
        _mpc_method("agentHoldMusicMethod", "agent_hold_music_method", "GET"),
        _url("customerHoldMusicUrl", "customer_hold_music_url",
             "XML URL played to held customers."),
        _mpc_method("customerHoldMusicMethod", "customer_hold_music_method", "GET"),
        _mpc_bool("record", "record", False),
        _mpc_bool("recordParticipantTrack", "record_participant_track", False),
        _a("recordFileFormat", "record_file_format", enum=("mp3", "wav"), default="mp3",
           always_emit=True, case_insensitive=True, description=_MPC_NOTE),
        _url("recordingCallbackUrl", "recording_callback_url", "URL notified of recordings."),
        _mpc_method("recordingCallbackMethod", "recording_callback_method", "POST"),
        _a("statusCallbackEvents", "status_callback_events",
           pattern="(" + "|".join(_MPC_EVENTS) + ")(,(" + "|".join(_MPC_EVENTS) + "))*",
           default="mpc-state-changes,participant-state-changes", always_emit=True,
           description="Comma-separated event groups (lower case). " + _MPC_NOTE),
        _url("statusCallbackUrl", "status_callback_url", "URL receiving MPC events."),
        _mpc_method("statusCallbackMethod", "status_callback_method", "POST"),
        _mpc_bool("stayAlone", "stay_alone", False),
        _mpc_bool("coachMode", "coach_mode", True, "Supervisor heard by agents only."),
        _mpc_bool("mute", "mute", False),
        _mpc_bool("hold", "hold", False),
        _mpc_bool("startMpcOnEnter", "start_mpc_on_enter", True),
        _mpc_bool("endMpcOnExit", "end_mpc_on_exit", False),
        _url("enterSound", "enter_sound", "beep:1, beep:2, none, or an XML URL. " + _MPC_NOTE,
             enum=("beep:1", "beep:2", "none"), default="beep:1", always_emit=True),
        _mpc_method("enterSoundMethod", "enter_sound_method", "GET"),
        _url("exitSound", "exit_sound", "beep:1, beep:2, none, or an XML URL. " + _MPC_NOTE,
             enum=("beep:1", "beep:2", "none"), default="beep:2", always_emit=True),
        _mpc_method("exitSoundMethod", "exit_sound_method", "GET"),
        _url("onExitActionUrl", "on_exit_action_url", "URL requested when the member leaves."),
        _mpc_method("onExitActionMethod", "on_exit_action_method", "POST"),
        _mpc_bool("relayDTMFInputs", "relay_dtmf_inputs", False),
        _url("startRecordingAudio", "start_recording_audio", "Audio URL when recording starts."),
        _mpc_method("startRecordingAudioMethod", "start_recording_audio_method", "GET"),
        _url("stopRecordingAudio", "stop_recording_audio", "Audio URL when recording stops."),
        _mpc_method("stopRecordingAudioMethod", "stop_recording_audio_method", "GET"),
        _mpc_bool("transcript", "transcript", False),
        _url("transcriptionUrl", "transcription_url", "URL receiving transcripts."),
    ),
)

_DTMF = ElementSpec(
    name="DTMF",
    sdk_class="DTMFElement",
    content="text",
    content_pattern=_SEND_DIGITS,
    description="Sends DTMF digits into the call; w waits 0.5 s, W 1 s.",
    attributes=(
        _bool("async", "async_", True, "Continue with the next element while digits are sent."),
    ),
)

_HANGUP = ElementSpec(
    name="Hangup",
    sdk_class="HangupElement",
    content="none",
    description="Ends the call, now or after schedule seconds.",
    attributes=(
        _a("reason", "reason", enum=("rejected", "busy"), description="Rejection reason."),
        _int("schedule", "schedule", None, 1, description="Hang up after this many seconds."),
    ),
)

_REDIRECT = ElementSpec(
    name="Redirect",
    sdk_class="RedirectElement",
    content="url",
    description="Transfers control to the XML at the URL (or a #document).",
    attributes=(_method("method", "method"),),
)

_PRE_ANSWER = ElementSpec(
    name="PreAnswer",
    sdk_class="PreAnswerElement",
    content="none",
    children=("Speak", "Play", "Wait", "GetDigits", "Redirect", "Message", "DTMF"),
    description="Early media before the call is answered (children: SDK nesting list).",
    attributes=(),
)

_MESSAGE = ElementSpec(
    name="Message",
    sdk_class="MessageElement",
    content="text",
    description="Sends an SMS during the call.",
    attributes=(
        _a("src", "src", description="Sender number.", required=True),
        _a("dst", "dst", description="Destination number(s), '<'-separated.", required=True),
        _a("type", "type", enum=("sms",), default="sms"),
        _url("callbackUrl", "callback_url", "URL receiving message status."),
        _method("callbackMethod", "callback_method"),
    ),
)

_CONTENT_TYPES = ("audio/x-l16;rate=8000", "audio/x-l16;rate=16000", "audio/x-mulaw;rate=8000")

_STREAM = ElementSpec(
    name="Stream",
    sdk_class="StreamElement",
    content="optional-url",
    content_pattern=r"wss?://\S+",
    description=("Streams call audio to a WebSocket (plivo.md §1). Without text flowc fills "
                 "in its own stream route. noiseCancellation* are in the newer docs only; "
                 "the SDK cannot build them (TypeError)."),
    attributes=(
        _bool("bidirectional", "bidirectional", False,
              "The server may play audio back; then audioTrack must be inbound."),
        _a("audioTrack", "audioTrack", enum=("inbound", "outbound", "both"), default="inbound",
           description="Tracks streamed; not outbound/both when bidirectional (docs)."),
        _int("streamTimeout", "streamTimeout", 86400, 1,
             description="Seconds before the stream stops (positive; the SDK accepts any)."),
        _url("statusCallbackUrl", "statusCallbackUrl",
             "URL receiving stream events; '#stream-status' is flowc's route."),
        _method("statusCallbackMethod", "statusCallbackMethod"),
        _a("contentType", "contentType", enum=_CONTENT_TYPES, default="audio/x-l16;rate=8000",
           always_emit=True,
           description=("Audio format. Docs disagree on the default (x-l16 8k in the XML "
                        "reference, x-mulaw 8k in the overview) so flowc always emits it.")),
        _a("extraHeaders", "extraHeaders", pattern=_KEY_VALUES, max_bytes=512,
           description=("key=value,... pairs ([A-Za-z0-9]) delivered on stream events; "
                        "at most 512 bytes.")),
        _bool("keepCallAlive", "keepCallAlive", False,
              "Run the stream alone; later elements wait until it ends."),
        _bool("noiseCancellation", "", False,
              "Plivo noise cancellation on the streamed audio (newer docs; not in the SDK)."),
        _int("noiseCancellationLevel", "", 85, 60, 100,
             description="Strength 60-100; only with noiseCancellation true (not in the SDK)."),
    ),
)

ELEMENTS: dict[str, ElementSpec] = {
    spec.name: spec
    for spec in (
        _SPEAK, _PLAY, _WAIT, _GET_DIGITS, _GET_INPUT, _RECORD, _DIAL, _NUMBER, _USER,
        _CONFERENCE, _MPC, _DTMF, _HANGUP, _REDIRECT, _PRE_ANSWER, _MESSAGE, _STREAM,
    )
}
"""Every Plivo verb and noun flowc can emit, by Plivo spelling."""

RESPONSE_CHILDREN: tuple[str, ...] = (
    "Conference", "Dial", "DTMF", "GetDigits", "GetInput", "Hangup", "Message", "Play",
    "PreAnswer", "Record", "Redirect", "Speak", "Wait", "MultiPartyCall", "Stream",
)
"""Verbs allowed at the top level of a document (``ResponseElement._nestable``)."""

# ------------------------------------------------------------------------------ SSML

_SSML_INLINE = ("break", "emphasis", "lang", "phoneme", "prosody", "say-as", "sub", "w")


def _ssml(name: str, sdk_class: str, children: tuple[str, ...], *attrs: AttributeSpec,
          content: Content = "text", description: str = "") -> ElementSpec:
    return ElementSpec(name=name, attributes=attrs, content=content, children=children,
                       sdk_class=sdk_class, description=description)


SSML_TAGS: dict[str, ElementSpec] = {
    spec.name: spec
    for spec in (
        _ssml("break", "BreakElement", (),
              _a("strength", "strength",
                 enum=("none", "x-weak", "weak", "medium", "strong", "x-strong")),
              _a("time", "time", pattern=r"[0-9]+(\.[0-9]+)?(ms|s)",
                 description="Pause length, e.g. 500ms or 2s (Polly max 10s)."),
              content="none", description="A pause."),
        _ssml("emphasis", "EmphasisElement", _SSML_INLINE,
              _a("level", "level", enum=("strong", "moderate", "reduced"))),
        _ssml("lang", "LangElement",
              ("break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"),
              _a("xml:lang", "xmllang", pattern=r"[a-z]{2,3}(-[A-Za-z0-9]{2,4})?", required=True)),
        _ssml("p", "PElement",
              ("break", "emphasis", "lang", "phoneme", "prosody", "say-as", "sub", "s", "w"),
              description="A paragraph."),
        _ssml("phoneme", "PhonemeElement", (),
              _a("alphabet", "alphabet", enum=("ipa", "x-sampa"), required=True),
              _a("ph", "ph", required=True, description="The phonetic spelling.")),
        _ssml("prosody", "ProsodyElement",
              ("break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"),
              _a("volume", "volume",
                 pattern=r"silent|x-soft|soft|medium|loud|x-loud|default|[+-][0-9]+(\.[0-9]+)?dB"),
              _a("rate", "rate", pattern=r"x-slow|slow|medium|fast|x-fast|default|[0-9]+%"),
              _a("pitch", "pitch",
                 pattern=r"x-low|low|medium|high|x-high|default|[+-]?[0-9]+(\.[0-9]+)?%")),
        _ssml("s", "SElement", _SSML_INLINE, description="A sentence."),
        _ssml("say-as", "SayAsElement", (),
              _a("interpret-as", "interpret_as", required=True,
                 enum=("characters", "spell-out", "cardinal", "number", "ordinal", "digits",
                       "fraction", "unit", "date", "time", "address", "expletive",
                       "telephone")),
              _a("format", "format", description="Date format (mdy, dmy, ymd, md, dm, ym, my, "
                                                 "d, m, y) for interpret-as date.")),
        _ssml("sub", "SubElement", (),
              _a("alias", "alias", required=True, description="Text spoken instead.")),
        _ssml("w", "WElement", ("break", "emphasis", "phoneme", "prosody", "say-as", "sub"),
              _a("role", "role",
                 enum=("amazon:VB", "amazon:VBD", "amazon:DT", "amazon:IN", "amazon:JJ",
                       "amazon:NN", "amazon:SENSE_1"))),
    )
}
"""SSML tags allowed inside ``Speak`` (the SDK's ``cont`` is omitted: it is replaced
by spaces on output, so it is not a real tag)."""

SPEAK_SSML_CHILDREN: tuple[str, ...] = (
    "break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w",
)
"""SSML tags allowed directly inside ``Speak``."""
