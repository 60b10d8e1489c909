"""Inventory: observations grouped into devices and identified."""
