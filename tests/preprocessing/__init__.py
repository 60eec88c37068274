"""Tests of torsoseg.preprocessing."""
