-- Care API: each cohort's figures per hour, computed once by whichever API worker needs
-- them first and shared by all (a cohort's week of samples is the device view's heavy
-- part). Rows older than a day are pruned by the API as it adds new ones.
CREATE TABLE cohort_figures (
    model       text NOT NULL,
    os_version  text NOT NULL,
    until       timestamptz NOT NULL,
    days        real NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    devices     integer NOT NULL,
    figure_values jsonb NOT NULL,
    PRIMARY KEY (model, os_version, until, days)
);
