"""check_profile.py OUT [JSON]: the report of `gptc bench --profile` adds up.

The classes' and the families' ms/step sum to the header's total and the
families' launches to its count of plan steps; the slowest steps are listed
slowest first; with JSON (gptc bench --json), its "profile" holds the same
six classes and times as the printed table."""
import json
import re
import sys

text = open(sys.argv[1]).read()
head = re.search(r'on its own: ([0-9.]+) ms/step in ([0-9]+) launches', text)
classes_text, rest = text.split('  family ')
families, slowest = rest.split('slowest steps')
cls = re.findall(r'^  (\S.*?) +([0-9.]+) +[0-9.]+% +\S+ (?:TFLOP|GB)/s$', classes_text, re.M)
fam = re.findall(r'^  (\S.*?) +([0-9.]+) +[0-9.]+% +([0-9]+)(?:   \S+ TFLOP/s)?$', families, re.M)
top = [float(x) for x in re.findall(r'^ +([0-9.]+) +[0-9.]+%  ', slowest, re.M)]
ms, launches = sum(float(f[1]) for f in fam), sum(int(f[2]) for f in fam)
problems = []
if not head:
    problems.append('no header line')
elif launches != int(head.group(2)):
    problems.append('families have %d launches, the header %s' % (launches, head.group(2)))
elif abs(ms - float(head.group(1))) > 0.01 * ms + 0.01:
    problems.append('families add to %.3f ms, the header says %s' % (ms, head.group(1)))
cms = sum(float(c[1]) for c in cls)
if len(cls) < 5 or (head and abs(cms - float(head.group(1))) > 0.01 * cms + 0.01):
    problems.append('classes %s do not add up to the header' % cls)
if len(sys.argv) > 2:
    prof = json.load(open(sys.argv[2])).get('profile', {})
    printed = {c[0]: float(c[1]) for c in cls}
    if len(prof) != 6 or any(abs(prof[k]['ms'] - v) > 0.0006 for k, v in printed.items()):
        problems.append('the JSON profile %s is not the table %s' % (prof, printed))
if len(fam) < 5:
    problems.append('only %d families' % len(fam))
if len(top) != 20 or top != sorted(top, reverse=True):
    problems.append('the slowest steps are not 20 in order: %s' % top)
print('; '.join(problems) or 'profile adds up: %d classes, %d families, %d launches, %.3f ms'
      % (len(cls), len(fam), launches, ms))
sys.exit(1 if problems else 0)
