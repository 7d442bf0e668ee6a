"""The SNIRF layout of a session file: the facts :mod:`host.snirf_writer` writes and
:mod:`host.snirf_reader` checks, in one place.

SNIRF is the fNIRS community's HDF5 layout (https://github.com/fNIRS/snirf, version 1.1).
What goes where, block by block, how MNE-Python, Homer3 and the ``snirf`` package read it,
and how version 1 differed, is written once, in docs/snirf.md ("The layout"). In short
(layout version 2):

* ``/nirs/data1``: ΔHbO2 and ΔHHb in M, the block MNE-Python's ``read_raw_snirf`` reads
  (it reads no other, and takes haemoglobin as M);
* ``/nirs/data2``: the detected light per wavelength, V;
* ``/nirs/data3``: ΔOD per wavelength, then ΔHbO2 and ΔHHb in µM as the device computed
  them (the values :func:`host.snirf_reader.read_session` returns, bit for bit);
* every time in the file (data, stims, aux, TaskFailureTime) counts from the first sample,
  which MeasurementDate/MeasurementTime date (MNE-Python puts the first sample at 0 s
  whatever ``time[0]`` says); the tag ``SessionTimeOffset`` is the session's own time of
  that first sample, added back on reading;
* the DPF the haemoglobin was computed with is the tag ``DPF`` (SNIRF has no field for
  it); the source–detector distance is in the probe's positions.

A file is written to a temporary name beside its destination and renamed over it
(:func:`os.replace`), so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

from typing import NamedTuple

import h5py

#: SNIRF version written. The fields used (measurementList/dataUnit, aux/dataUnit,
#: stim/dataLabels) are in SNIRF 1.1.
SNIRF_FORMAT_VERSION = "1.1"
#: Tags that mark a file as this project's session record, and the layout version.
PROJECT_FORMAT = "nirs-fatigue-session"
#: 2: haemoglobin first (in M, for MNE-Python), DPF tag, time axis from the first sample.
#: 1: raw light in data1, ΔOD and haemoglobin (µM) in data2, session times, no DPF.
PROJECT_FORMAT_VERSION = 2
#: SNIRF appendix: data type codes.
SNIRF_CW_AMPLITUDE = 1
SNIRF_PROCESSED = 99999
#: SNIRF appendix: dataTypeLabel of processed channels.
LABEL_DOD = "dOD"
LABEL_HBO = "HbO"
LABEL_HBR = "HbR"
#: Haemoglobin unit of the device's values (data3): µM, spelled as SNIRF 1.1
#: measurementList/dataUnit wants it (CMIXF-12: no µ sign).
HB_DATA_UNIT = "uM"
#: Haemoglobin unit of data1, the block other tools read first: mol/L. MNE-Python 1.12.1
#: (mne/io/snirf/_snirf.py, ``RawSNIRF.__init__``) ignores dataUnit and stores what
#: dataTimeSeries holds as M (its unit for hbo/hbr, mne doc "Internal representation
#: (units)"); its development reader (``_get_dataunit_scaling``) reads dataUnit and scales
#: "M" by 1. "M" is right for both.
HB_MOLAR_UNIT = "M"
#: mol/L in one µmol/L (SI prefix micro).
MOLAR_PER_MICROMOLAR = 1e-6
#: Largest relative difference allowed between data1 (M) and data3 (µM) × 1e-6: two
#: roundings of float64 (2 × 2**-53 ≈ 2.2e-16), with room; a larger one is an edited file.
HB_COPY_RTOL = 1e-12
#: Unit of the raw amplitudes and of the dark level.
VOLT_UNIT = "V"
#: Columns of each stim row.
STIM_COLUMNS = ("Onset", "Duration", "Amplitude", "PhaseIndex")
#: Names of the aux channels.
AUX_DARK = "dark"
AUX_BORG = "borg_cr10"
AUX_LEVEL = "fatigue_level"
AUX_FLAGS = "quality_flags"
#: The project's metaDataTags beyond SNIRF's required five (SubjectID, MeasurementDate,
#: MeasurementTime, LengthUnit, TimeUnit) and FrequencyUnit.
TAG_DPF = "DPF"
TAG_TIME_OFFSET = "SessionTimeOffset"

_STR = h5py.string_dtype("utf-8")


class Blocks(NamedTuple):
    """The data blocks of one layout version, by what they hold."""

    #: ΔHbO2, ΔHHb in M (none in version 1).
    hb_molar: str | None
    #: Detected light per wavelength, V.
    raw: str
    #: ΔOD per wavelength, then ΔHbO2, ΔHHb in µM.
    processed: str


#: Where each block is, per layout version.
BLOCKS = {
    1: Blocks(hb_molar=None, raw="data1", processed="data2"),
    2: Blocks(hb_molar="data1", raw="data2", processed="data3"),
}
