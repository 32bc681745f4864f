from __future__ import annotations

from django.urls import path

from realtime import views

app_name = "addin"

urlpatterns = [
    path("manifest.xml", views.manifest, name="manifest"),
    path("taskpane/", views.taskpane, name="taskpane"),
]
