"""check_profile.py OUT: the report of `gptc bench --profile` adds up.

The families' ms/step sum to the header's total and their launches to its
count of plan steps; the slowest steps are listed slowest first."""
import re
import sys

text = open(sys.argv[1]).read()
head = re.search(r'on its own: ([0-9.]+) ms/step in ([0-9]+) launches', text)
families, slowest = text.split('slowest steps')
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
if len(fam) < 5:
    problems.append('only %d families' % len(fam))
if len(top) != 20 or top != sorted(top, reverse=True):
    problems.append('the slowest steps are not 20 in order: %s' % top)
print('; '.join(problems) or 'profile adds up: %d families, %d launches, %.3f ms' % (len(fam), launches, ms))
sys.exit(1 if problems else 0)
