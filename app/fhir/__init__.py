"""The HL7 FHIR R4 face: plain-dict resources mapped to and from the native models."""
