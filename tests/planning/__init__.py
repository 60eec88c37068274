"""Tests of torsoseg.planning."""
