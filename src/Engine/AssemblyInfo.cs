namespace StreamBert.Engine;
