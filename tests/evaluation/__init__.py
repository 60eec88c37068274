"""Tests of torsoseg.evaluation."""
