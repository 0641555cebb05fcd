// Lang: see docs and the house plan; this file marks the module until its code lands.
