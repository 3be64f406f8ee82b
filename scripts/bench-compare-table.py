"""Prints the ranges and round-1 ratios of a bench-compare.sh output (the file given as the argument)."""
import sys
import re,collections
runs=collections.defaultdict(list)
base={}
cur=None
for line in open(sys.argv[1]):
    m=re.match(r'=== (\w+) (\S+) (\w+)?\s*\| walTotal (\d+)', line)
    if m:
        b,r,kind,wal=m.group(1),m.group(2),m.group(3),int(m.group(4))
        if r=='base': cur={'b':b,'kind':'base','wal':wal}; base[b]=cur
        else: cur={'b':b,'kind':kind,'r':r,'wal':wal}; runs[(b,kind)].append(cur)
        continue
    if cur is None: continue
    if m:=re.search(r'delivered: (\d+)/\d+ events in ([\d.]+)s: (\d+) events/s', line): cur['n']=int(m.group(1)); cur['rate']=int(m.group(3))
    if m:=re.search(r'p99 ([\d.]+)(ms|s)', line): cur['p99']=float(m.group(1))*(1000 if m.group(2)=='s' else 1)
    if m:=re.search(r'hookd server ([\d.]+) ms', line): cur['srv']=float(m.group(1))
    if m:=re.search(r'([\d.]+) commits per delivered', line): cur['commits']=float(m.group(1))
    if m:=re.search(r'CPU ([\d.]+) ms per delivered event \(', line): cur['pg']=float(m.group(1))
def rng(vals,fmt='{:.2f}'):
    lo,hi=min(vals),max(vals)
    return fmt.format(lo) if fmt.format(lo)==fmt.format(hi) else fmt.format(lo)+'–'+fmt.format(hi)
for kind in ['rate50','rate200','single','batch']:
    for b in ['old','new']:
        rs=runs[(b,kind)]
        if not rs: continue
        bw=base[b]['wal']; bn=base[b].get('n',20)
        wal=[(r['wal']-bw)/(r['n']-bn)/1024 for r in rs]
        tot=[r['srv']+r['pg'] for r in rs]
        print(f"{kind:8} {b}: rate {rng([r['rate'] for r in rs],'{:,}')}/s p99 {rng([r['p99'] for r in rs],'{:.1f}')} ms | server {rng([r['srv'] for r in rs])} + PG {rng([r['pg'] for r in rs])} = {rng(tot)} ms | commits {rng([r['commits'] for r in rs])} | WAL {rng(wal,'{:.1f}')} KiB")
    o=runs[('old',kind)][0]; n=runs[('new',kind)][0]
    print(f"   r1 ratio new/old: CPU {(n['srv']+n['pg'])/(o['srv']+o['pg']):.2f}, commits {n['commits']/o['commits']:.2f}, p99 {n['p99']/o['p99']:.2f}, rate {n['rate']/o['rate']:.2f}")
