"""The Slack channel: slack-bolt (async), the Events API or Socket Mode, a durable inbox."""

from minibot.adapters.messaging.slack.slack_channel import SlackChannel

__all__ = ["SlackChannel"]
