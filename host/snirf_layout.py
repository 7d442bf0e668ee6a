"""The SNIRF layout of a session file: the facts :mod:`host.snirf_writer` writes and
:mod:`host.snirf_reader` checks, in one place.

SNIRF is the fNIRS community's HDF5 layout (https://github.com/fNIRS/snirf), so Homer3, the
``snirf`` package and other tools can open the optical data; the fatigue labels and the
project's own facts go in the places SNIRF has for them (``aux``, ``stim`` and custom
``metaDataTags``), so a file stays valid under the SNIRF validator.

Layout written by :func:`write_session` (every time in seconds, lengths in cm)::

    /formatVersion                 "1.1"
    /nirs/metaDataTags/            SubjectID, MeasurementDate, MeasurementTime ("unknown"
                                   when the start time is not known), LengthUnit "cm",
                                   TimeUnit "s", FrequencyUnit "Hz", and the project's tags:
                                   ProjectFormat, ProjectFormatVersion, Provenance, Protocol,
                                   Side, TaskFailureTime (s, NaN: no task failure),
                                   FatigueLevelNames, BorgLevelMaxima, SessionMetadata (JSON)
    /nirs/data1                    raw CW amplitude: dark-subtracted detected light, V
        dataTimeSeries (n, n_wl), time (n,)
        measurementList{k}         dataType 1, sourceIndex 1, detectorIndex 1,
                                   wavelengthIndex k, dataUnit "V"
    /nirs/data2                    processed (dataType 99999), same time base
        dataTimeSeries (n, n_wl + 2): ΔOD per wavelength, then ΔHbO2 and ΔHHb in µM
        measurementList{k}         dataTypeLabel "dOD" (wavelengthIndex k), "HbO", "HbR"
                                   (dataUnit "uM")
    /nirs/probe                    wavelengths (nm), one source and one detector
                                   DEFAULT_DISTANCE_CM apart (3-D positions, cm), labels
    /nirs/stim{i}                  one per phase name: rows [onset, duration, amplitude 1,
                                   phase index] (dataLabels say so)
    /nirs/aux{i}                   "dark" (V, every sample), "borg_cr10" (at the report
                                   times), "fatigue_level" and "quality_flags" (every sample)

:func:`read_session` also reads files whose measurement lists point into
``/nirs/probe/wavelengths`` in another order (SNIRF allows any: column k holds the light
of ``wavelengths[wavelengthIndex - 1]``); the record's ``wavelengths_nm`` is then the
wavelength of each column, in column order.

A file is written to a temporary name beside its destination and renamed over it
(:func:`os.replace`), so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import h5py

#: SNIRF version written. The fields used (measurementList/dataUnit, aux/dataUnit,
#: stim/dataLabels) are in SNIRF 1.1.
SNIRF_FORMAT_VERSION = "1.1"
#: Tags that mark a file as this project's session record, and the layout version.
PROJECT_FORMAT = "nirs-fatigue-session"
PROJECT_FORMAT_VERSION = 1
#: SNIRF appendix: data type codes.
SNIRF_CW_AMPLITUDE = 1
SNIRF_PROCESSED = 99999
#: Haemoglobin unit string (SNIRF 1.1 measurementList/dataUnit). What MNE-Python expects:
#: its ``read_raw_snirf`` source with unit support (mne/io/snirf/_snirf.py,
#: ``_get_dataunit_scaling``) reads ``measurementList1/dataUnit`` of HbO/HbR data, takes
#: "M" when it is absent, accepts exactly "M" and "uM" (ASCII u, scaled by 1e-6) and raises
#: on anything else ("µM", "umol/L"). The released MNE 1.12.1 ignores dataUnit and takes
#: HbO/HbR as M, and reads only /nirs/data1 (our raw amplitudes, which it opens). We store
#: µM, so the label is "uM"; an MNE user reading data2 by hand scales by 1e-6.
HB_DATA_UNIT = "uM"
#: Unit of the raw amplitudes and of the dark level.
VOLT_UNIT = "V"
#: Columns of each stim row.
STIM_COLUMNS = ("Onset", "Duration", "Amplitude", "PhaseIndex")
#: Names of the aux channels.
AUX_DARK = "dark"
AUX_BORG = "borg_cr10"
AUX_LEVEL = "fatigue_level"
AUX_FLAGS = "quality_flags"

_STR = h5py.string_dtype("utf-8")
