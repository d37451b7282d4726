"""The recovery workflows, one module per notification type."""
