"""forensics stage of dancenow: provenance marks on what we make (``watermark``, ``provenance``) and,
to come, a learned detector of synthesised dance videos."""
