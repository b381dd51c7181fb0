import unittest

from componentize_py_types import Err
from switchboard_adapter import types as t

from login import sign_in


class SignIn(unittest.TestCase):
    def test_an_api_key_signs_in_and_an_empty_one_does_not(self):
        self.assertEqual(sign_in(t.Credential_ApiKey("k-123")).name, "Example User")
        with self.assertRaises(Err) as raised:
            sign_in(t.Credential_ApiKey(" "))
        self.assertIsInstance(raised.exception.value, t.AdapterError_Unauthorized)


if __name__ == "__main__":
    unittest.main()
