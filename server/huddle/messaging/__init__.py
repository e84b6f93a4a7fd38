"""Messaging: referrals, conversations (threads), participants and messages."""
