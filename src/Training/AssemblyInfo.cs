namespace StreamBert.Training;
