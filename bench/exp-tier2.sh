for i in 1 2 3 4 5 6; do
  node $XA --initial-old-space-size=128 --conditions=@gradmesh/source --import tsx exp-tier-child.ts > /tmp/exp/t1.txt &
  node $XA --initial-old-space-size=128 --conditions=@gradmesh/source --import tsx exp-tier-child.ts > /tmp/exp/t2.txt &
  wait
  echo "A: $(cat /tmp/exp/t1.txt)"; echo "B: $(cat /tmp/exp/t2.txt)"
done
