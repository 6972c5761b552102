from datetime import date
from pathlib import Path
import sys
sys.path.insert(0, "/work/wt/domain-check")
from tests.allocation.test_school_parents import family, months, TEN_YEARS_OLD
from tests import family_city as city
from tests.factories import id_number
from luodi.registry import city_files as cf

d = family(Path("/tmp/dc/city"))
P3 = id_number("341522", date(1990, 1, 1), 513)
P4 = id_number("341522", date(1989, 1, 1), 624)
C3 = id_number("330282", date(2020, 4, 1), 735)
C4 = id_number("330282", date(2020, 5, 1), 846)
def add(name, text):
    p = d / name
    p.write_text(p.read_text(encoding="utf-8") + text, encoding="utf-8")
add(cf.RESIDENTS, f"{P3},三父,{city.ZHOUXIANG},H3,head\n{P4},四父,{city.ZHOUXIANG},H4,head\n")
add(cf.CHILDREN, f"{P3},H3,{C3},三娃,\n{P4},H4,{C4},四娃,\n")
add(cf.PERMITS, f"P3,{P3},{city.ZHOUXIANG},2021-03-01,2031-03-01\nP4,{P4},{city.ZHOUXIANG},2021-03-01,2031-03-01\n")
add(cf.PERMIT_ENDORSEMENTS, "".join(f"{n},{k},{y}-03-01\n" for k,n in (("P3",P3),("P4",P4)) for y in range(2022,2027)))
add(cf.EMPLOYMENT, f"{P3},{city.E1},labour_contract,2022-01-01,,true\n{P4},{city.E1},labour_contract,2022-01-01,,true\n")
add(cf.SOCIAL_INSURANCE, "".join(f"{P3},{m},1,false,{city.E1}\n" for m in months("2025-03","2026-04")) + "".join(f"{P4},{m},1,false,{city.E1}\n" for m in months("2025-11","2026-04")))
add(cf.EDUCATION, f"{P4},doctorate,none\n{P3},junior_high,none\n")
print("P3", P3, "P4", P4, "C1", city.C1, "C2", city.C2, "C3", C3, "C4", C4, "TEN", TEN_YEARS_OLD, "F", city.FATHER, "M", city.MOTHER, "U", city.UNCLE, "SINGLE", city.SINGLE, "LONER", city.LONER)
