"""Study code: multi-seed experiment helpers (`multiseed`), and the test sets of the SELD studies (`homogeneous`)."""
