"""Unit tests of the SDK outside a component. They need the WIT's Python
bindings on the path: ``switchboard-adapter bindings DIR`` writes them
(``cargo xtask test`` does, into ``target/python-sdk/bindings``)."""

import unittest

from switchboard_adapter import Adapter, Manifest, compose_note, format_duration, not_found
from switchboard_adapter import types as t
from switchboard_adapter.notes import call_subject, conversation_subject, message_note_line


def call(direction, custom_subject=None):
    party = t.Party(None, None)
    return t.Call("c", "s", None, direction, 0, 0, "Accepted", party, party, None, None, custom_subject, [])


class Notes(unittest.TestCase):
    def test_durations_read_like_app_connect(self):
        self.assertEqual(format_duration(0), "0 seconds")
        self.assertEqual(format_duration(1), "1 second")
        self.assertEqual(format_duration(65), "1 minute, 5 seconds")
        self.assertEqual(format_duration(7322), "2 hours, 2 minutes, 2 seconds")

    def test_a_note_has_one_line_per_part(self):
        self.assertEqual(
            compose_note(agent_note="called back", result="Accepted", duration_seconds=65, recording_link="https://r/1"),
            "- Agent note: called back\n- Result: Accepted\n- Duration: 1 minute, 5 seconds\n- Call recording link: https://r/1\n",
        )

    def test_subjects_follow_app_connect(self):
        self.assertEqual(call_subject(call(t.Direction.INBOUND), "Ann"), "Inbound call from Ann")
        self.assertEqual(call_subject(call(t.Direction.OUTBOUND), "Ann"), "Outbound call to Ann")
        self.assertEqual(call_subject(call(t.Direction.INBOUND, "Mine"), "Ann"), "Mine")


class Messages(unittest.TestCase):
    def test_message_subjects_and_lines_follow_app_connect(self):
        # 2024-02-29T13:05:00Z
        message = t.Message(
            "m1", "c1", t.MessageType.VOICEMAIL, t.Direction.INBOUND, 1_709_211_900_000, "call me",
            t.Party("+16505550100", None), [],
            [t.Attachment("1", t.AttachmentKind.AUDIO_RECORDING, None, "https://media.example/vm/1", None, None)],
        )  # fmt: skip
        self.assertEqual(conversation_subject(message, "Ann"), "Voicemail from Ann - 2024-02-29")
        self.assertEqual(
            message_note_line(message),
            "13:05 UTC +16505550100: call me [AudioRecording: https://media.example/vm/1]",
        )


class Base(unittest.TestCase):
    def test_implements_lists_exactly_the_defined_operations(self):
        class Crm(Adapter):
            MANIFEST = Manifest(platform="x", display_name="X", version="1")

            def find_contact(self, request):
                return []

        manifest = Crm().manifest()
        self.assertEqual(manifest.implements, [t.Operation.FIND_CONTACT])
        self.assertIsInstance(manifest.auth, t.AuthType_ApiKey)
        with self.assertRaises(Exception) as raised:
            Crm().create_call_log(None)
        self.assertIsInstance(raised.exception.value, t.AdapterError_Unsupported)

    def test_errors_carry_the_wit_variant(self):
        self.assertEqual(not_found("no contact 7").value, t.AdapterError_NotFound("no contact 7"))


if __name__ == "__main__":
    unittest.main()
