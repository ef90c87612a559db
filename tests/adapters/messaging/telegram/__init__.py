"""Tests of the Telegram channel, against the fake Bot API over real HTTP."""
