# gnuplot script for bench/rollout/timeline.png, called by bench/rollout/apps with
#   outfile    the PNG to write
#   xmax       the length of the wrk run, in seconds
#   plots_rps  the plot clauses of the upper panel (requests per second, one line per contender)
#   plots_fail the plot clauses of the lower panel (failed requests per 100 ms)
#   arrows     "set arrow ..." commands: one dashed vertical line per reload, in the
#              contender's colour (the moment baton or boot.js got SIGHUP, or pm2 reload began)
#   subtitle   what was measured, and when
set terminal pngcairo size 1400,900 font "sans,11" noenhanced
set output outfile
set multiplot layout 2,1 title "Rolling restarts under load: ".subtitle
set grid ytics lc rgb "#dddddd"
set key outside right top vertical
set xlabel "seconds since wrk started"
set xrange [0:xmax]
set lmargin 12
set rmargin 44
set offsets 0, 0, graph 0.15, 0

set title "requests per second (responses per 100 ms x 10)"
set ylabel "req/s"
set yrange [0:*]
eval arrows
eval "plot ".plots_rps

set title "failed requests per 100 ms (socket errors + status >= 400)"
set ylabel "failed"
set yrange [0:*]
eval "plot ".plots_fail
unset multiplot
