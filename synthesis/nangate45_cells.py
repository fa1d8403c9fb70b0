"""NanGate45 cells for the timing estimate: areas, input capacitances, functions and
linear delays (delay ns = intrinsic + slope * load fF, the worse of rise and fall), fitted
by synthesis/fit_cells.py (which documents how) from the source below; do not edit by
hand."""

SOURCE = 'NanGate FreePDK45 Open Cell Library, typical corner (TypTyp, 1.10 V, 25 C), Liberty as shipped by OpenSTA (github.com/The-OpenROAD-Project/OpenSTA examples/nangate45_typ.lib.gz at commit d1b2b3962cd47539c748bb163da5de2bd5d2f85f)'
NOMINAL_SLEW_NS = 0.03
"""The input transition every delay was fitted at."""
DEFAULT_INPUT_PIN_CAP_FF = 1.0
WIRE_LOAD = {"name": '5K_hvratio_1_1', "capacitance_ff": 0.1774, "slope": 5.0,
             "fanout_length": {1: 1.746, 2: 3.9394, 3: 6.4626, 4: 9.2201, 5: 11.9123, 6: 14.8358, 7: 18.6155, 8: 22.6727, 9: 25.4842, 11: 27.032}}
"""The default wire-load model: net capacitance = capacitance_ff x length(fanout)."""

CELLS = {
    'INV_X1': {
        "area": 0.532,
        "inputs": {'A': 1.7002},
        "output": ('ZN', '!A'),
        "arcs": {'A': (0.01566, 0.002746)},
    },
    'INV_X2': {
        "area": 0.798,
        "inputs": {'A': 3.2509},
        "output": ('ZN', '!A'),
        "arcs": {'A': (0.01575, 0.001379)},
    },
    'INV_X4': {
        "area": 1.33,
        "inputs": {'A': 6.2584},
        "output": ('ZN', '!A'),
        "arcs": {'A': (0.01574, 0.000693)},
    },
    'INV_X8': {
        "area": 2.394,
        "inputs": {'A': 11.8107},
        "output": ('ZN', '!A'),
        "arcs": {'A': (0.01639, 0.000347)},
    },
    'BUF_X1': {
        "area": 0.798,
        "inputs": {'A': 0.9747},
        "output": ('Z', 'A'),
        "arcs": {'A': (0.03373, 0.001762)},
    },
    'BUF_X2': {
        "area": 1.064,
        "inputs": {'A': 1.7792},
        "output": ('Z', 'A'),
        "arcs": {'A': (0.03222, 0.000896)},
    },
    'BUF_X4': {
        "area": 1.862,
        "inputs": {'A': 3.4019},
        "output": ('Z', 'A'),
        "arcs": {'A': (0.03113, 0.000452)},
    },
    'BUF_X8': {
        "area": 3.458,
        "inputs": {'A': 6.5852},
        "output": ('Z', 'A'),
        "arcs": {'A': (0.03154, 0.000229)},
    },
    'NAND2_X1': {
        "area": 0.798,
        "inputs": {'A1': 1.599, 'A2': 1.6642},
        "output": ('ZN', '!(A1 & A2)'),
        "arcs": {'A1': (0.01791, 0.002698), 'A2': (0.02142, 0.002597)},
    },
    'NAND2_X2': {
        "area": 1.33,
        "inputs": {'A1': 3.0531, 'A2': 3.451},
        "output": ('ZN', '!(A1 & A2)'),
        "arcs": {'A1': (0.01798, 0.001355), 'A2': (0.02145, 0.001302)},
    },
    'NOR2_X1': {
        "area": 0.798,
        "inputs": {'A1': 1.7145, 'A2': 1.6513},
        "output": ('ZN', '!(A1 | A2)'),
        "arcs": {'A1': (0.02315, 0.005294), 'A2': (0.02663, 0.005323)},
    },
    'NOR2_X2': {
        "area": 1.33,
        "inputs": {'A1': 3.2933, 'A2': 3.3469},
        "output": ('ZN', '!(A1 | A2)'),
        "arcs": {'A1': (0.02304, 0.002662), 'A2': (0.02653, 0.002671)},
    },
    'AND2_X1': {
        "area": 1.064,
        "inputs": {'A1': 0.9181, 'A2': 0.9746},
        "output": ('ZN', '(A1 & A2)'),
        "arcs": {'A1': (0.03433, 0.002439), 'A2': (0.03719, 0.002181)},
    },
    'OR2_X1': {
        "area": 1.064,
        "inputs": {'A1': 0.9468, 'A2': 0.9419},
        "output": ('ZN', '(A1 | A2)'),
        "arcs": {'A1': (0.05144, 0.001854), 'A2': (0.05485, 0.001857)},
    },
    'NAND3_X1': {
        "area": 1.064,
        "inputs": {'A1': 1.5903, 'A2': 1.6212, 'A3': 1.6504},
        "output": ('ZN', '!((A1 & A2) & A3)'),
        "arcs": {'A1': (0.01874, 0.003093), 'A2': (0.02202, 0.002966), 'A3': (0.02511, 0.002640)},
    },
    'NOR3_X1': {
        "area": 1.064,
        "inputs": {'A1': 1.7636, 'A2': 1.6638, 'A3': 1.6163},
        "output": ('ZN', '!((A1 | A2) | A3)'),
        "arcs": {'A1': (0.02961, 0.007765), 'A2': (0.03865, 0.008027), 'A3': (0.04258, 0.007971)},
    },
    'XOR2_X1': {
        "area": 1.596,
        "inputs": {'A': 2.2321, 'B': 2.4115},
        "output": ('Z', '(A ^ B)'),
        "arcs": {'A': (0.02626, 0.005240), 'B': (0.03194, 0.005101)},
    },
    'XNOR2_X1': {
        "area": 1.596,
        "inputs": {'A': 2.2328, 'B': 2.5736},
        "output": ('ZN', '!(A ^ B)'),
        "arcs": {'A': (0.04349, 0.002215), 'B': (0.04468, 0.002293)},
    },
    'MUX2_X1': {
        "area": 1.862,
        "inputs": {'A': 0.9464, 'B': 0.9448, 'S': 1.9199},
        "output": ('Z', '((S & B) | (A & !S))'),
        "arcs": {'A': (0.06314, 0.001964), 'B': (0.06340, 0.001965), 'S': (0.05710, 0.002375)},
    },
    'AOI21_X1': {
        "area": 1.064,
        "inputs": {'A': 1.6264, 'B1': 1.647, 'B2': 1.6769},
        "output": ('ZN', '!(A | (B1 & B2))'),
        "arcs": {'A': (0.03900, 0.005183), 'B1': (0.02602, 0.005228), 'B2': (0.03169, 0.005101)},
    },
    'OAI21_X1': {
        "area": 1.064,
        "inputs": {'A': 1.6707, 'B1': 1.6621, 'B2': 1.5719},
        "output": ('ZN', '!(A & (B1 | B2))'),
        "arcs": {'A': (0.02518, 0.002735), 'B1': (0.02658, 0.005240), 'B2': (0.03014, 0.005287)},
    },
    'AOI22_X1': {
        "area": 1.33,
        "inputs": {'A1': 1.6875, 'A2': 1.6897, 'B1': 1.584, 'B2': 1.623},
        "output": ('ZN', '!((A1 & A2) | (B1 & B2))'),
        "arcs": {'A1': (0.03152, 0.005137), 'A2': (0.03688, 0.005060), 'B1': (0.04040, 0.005214), 'B2': (0.04579, 0.005159)},
    },
    'OAI22_X1': {
        "area": 1.33,
        "inputs": {'A1': 1.671, 'A2': 1.5842, 'B1': 1.6654, 'B2': 1.6156},
        "output": ('ZN', '!((A1 | A2) & (B1 | B2))'),
        "arcs": {'A1': (0.02632, 0.005257), 'A2': (0.02981, 0.005301), 'B1': (0.03859, 0.005072), 'B2': (0.04208, 0.005173)},
    },
    'DFF_X1': {
        "area": 4.522,
        "inputs": {'D': 1.1403, 'CK': 0.9497},
        "flip_flop": {"data": "D", "clock": "CK", "output": "Q"},
        "clock_to_q": (0.09185, 0.002198),
        "setup": 0.03883,
    },
}
