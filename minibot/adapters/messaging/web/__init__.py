"""The web channel: the dashboard's chat page, on the same intake and delivery as any channel."""
