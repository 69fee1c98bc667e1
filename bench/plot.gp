# The benchmark's plot: gnuplot -c bench/plot.gp OUT.png DATADIR TITLE
# (called by bench/run --write, which writes the data files in DATADIR:
#  goodput.dat   lines sum_mbit p1_mbit p4_mbit       equal 10 Mbit/s lines
#  unequal.dat   lines sum_mbit p1_mbit p4_mbit       10/10/5/5 Mbit/s
#  bringup.dat   "state" shell_ms up_ms hooks_ms up_ratio hooks_ratio
#  multipath.dat flows mp_equal teql_equal mp_unequal teql_unequal   Mbit/s; 10/10/10 and 10/5/5)
out = ARG1
dir = ARG2
title = ARG3

set terminal pngcairo size 2100,600 font "sans,11" noenhanced
set output out
set multiplot layout 1,3 title title font "sans,12"

# ---- left: goodput against the number of lines
set title "Goodput through teql0 (iperf3), 10 Mbit/s lines"
set xlabel "lines"
set ylabel "Mbit/s"
set logscale x 2
set xrange [0.8:10]
set xtics ("1" 1, "2" 2, "4" 4, "8" 8)
set yrange [0:90]
set grid ytics
set key top left box opaque
plot dir."/goodput.dat" using 1:2 with lines dashtype 2 linewidth 2 linecolor rgb "#777777" title "sum of line rates", \
     dir."/goodput.dat" using 1:($2 * 0.9) with lines dashtype 3 linewidth 2 linecolor rgb "#bbbbbb" title "0.9 of the sum (target)", \
     dir."/goodput.dat" using 1:3 with linespoints pointtype 7 pointsize 1.5 linewidth 2 linecolor rgb "#1f77b4" title "1 stream", \
     dir."/goodput.dat" using 1:4 with linespoints pointtype 5 pointsize 1.5 linewidth 2 linecolor rgb "#ff7f0e" title "4 streams", \
     dir."/goodput.dat" using 1:3:(sprintf("%.1f", $3)) with labels offset -2.2,0.9 textcolor rgb "#1f77b4" notitle, \
     dir."/goodput.dat" using 1:4:(sprintf("%.1f", $4)) with labels offset 2.2,-0.9 textcolor rgb "#ff7f0e" notitle, \
     dir."/unequal.dat" using 1:3 with points pointtype 6 pointsize 2 linewidth 2 linecolor rgb "#1f77b4" title "1 stream, 10/10/5/5 (sum 30)", \
     dir."/unequal.dat" using 1:4 with points pointtype 4 pointsize 2 linewidth 2 linecolor rgb "#ff7f0e" title "4 streams, 10/10/5/5 (sum 30)", \
     dir."/unequal.dat" using 1:2 with points pointtype 2 pointsize 2 linewidth 2 linecolor rgb "#777777" title "sum of 10/10/5/5"

# ---- right: bring-up of a 4-line bundle
unset logscale x
unset xlabel
set xrange [-0.6:1.6]
set autoscale y
set yrange [0:*]
set xtics auto
set title "Bring-up of a 4-line bundle (median ms; ratio to the shell's)"
set ylabel "ms"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside below center horizontal box
set offsets 0, 0, graph 0.25, 0
plot dir."/bringup.dat" using 2:xtic(1) linecolor rgb "#777777" title "shell recipe (12 process starts)", \
     '' using 3 linecolor rgb "#2ca02c" title "teqlctl up", \
     '' using 4 linecolor rgb "#9467bd" title "4 x ifup-local", \
     '' using ($0 - 0.25):2:(sprintf("%.0f", $2)) with labels offset 0,0.8 notitle, \
     '' using ($0):3:(sprintf("%.0f\n(%s)", $3, strcol(5))) with labels offset 0,1.9 notitle, \
     '' using ($0 + 0.25):4:(sprintf("%.0f\n(%s)", $4, strcol(6))) with labels offset 0,1.9 notitle

# ---- third: multipath against TEQL on lines of the same rates
set style data linespoints
unset style histogram
unset boxwidth
set style fill empty
set offsets 0, 0, 0, 0
set title "Multipath (LAN flows, masqueraded) and TEQL on the same line rates"
set xlabel "flows"
set ylabel "Mbit/s"
set logscale x 2
set xrange [0.8:20]
set xtics ("1" 1, "4" 4, "16" 16)
set yrange [0:35]
set key inside top left vertical box opaque
plot 30 with lines dashtype 2 linewidth 2 linecolor rgb "#777777" title "sum, 10/10/10", \
     20 with lines dashtype 2 linewidth 2 linecolor rgb "#bbbbbb" title "sum, 10/5/5", \
     dir."/multipath.dat" using 1:2 with linespoints pointtype 7 pointsize 1.5 linewidth 2 linecolor rgb "#1f77b4" title "multipath 10/10/10", \
     dir."/multipath.dat" using 1:3 with linespoints pointtype 6 pointsize 1.5 linewidth 2 dashtype 3 linecolor rgb "#1f77b4" title "TEQL 10/10/10", \
     dir."/multipath.dat" using 1:4 with linespoints pointtype 5 pointsize 1.5 linewidth 2 linecolor rgb "#d62728" title "multipath 10/5/5 (2:1:1)", \
     dir."/multipath.dat" using 1:5 with linespoints pointtype 4 pointsize 1.5 linewidth 2 dashtype 3 linecolor rgb "#d62728" title "TEQL 10/5/5"

unset multiplot
