"""The asyncio scheduler adapter."""
